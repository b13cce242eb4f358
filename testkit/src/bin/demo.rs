//! The local demo: a moto server seeded with a small fleet, then the real `scale-down` and
//! `scale-up` functions served by `cargo lambda watch` and invoked with files from `events/`.
//! Run it with `scripts/demo.sh`.
//!
//! `demo --serve [--port N]` (`scripts/local-endpoint.sh`) only starts and seeds the endpoint,
//! prints the commands to run the functions against it, and keeps it up until Ctrl-C.

use std::collections::BTreeMap;

use serde_json::Value;
use testkit::{build_functions, event_file, seed_demo_fleet, LambdaWatch, Moto, Seeder, ServiceState, DEMO_CLUSTERS};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => demo().await,
        ["--serve", ref rest @ ..] => {
            let (mut host, mut port) = ("127.0.0.1".to_string(), testkit::free_port());
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                match (*flag, rest.next()) {
                    ("--port", Some(p)) => port = p.parse().expect("--port takes a port number"),
                    ("--host", Some(h)) => host = h.to_string(),
                    _ => usage(),
                }
            }
            serve(&host, port).await
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: demo [--serve [--host ADDRESS] [--port N]]");
    std::process::exit(2);
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// A moto server seeded with the demo fleet, left running for the engineer's own invocations.
async fn serve(host: &str, port: u16) {
    let moto = Moto::start_at(host, port);
    seed_demo_fleet(&Seeder::new(&moto.sdk_config().await)).await;
    let env_file = testkit::project_root().join("target/local-endpoint.env");
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    let exports: String = moto.env().iter().map(|(k, v)| format!("export {k}={v}\n")).collect();
    std::fs::write(&env_file, &exports).unwrap();
    println!("Local AWS endpoint ready: {} (moto server), seeded with the demo fleet:", moto.endpoint);
    println!(
        "  clusters {}; services pr-101-web, pr-101-api, pr-202-web, grafana, checkout, ...",
        DEMO_CLUSTERS.join(", ")
    );
    println!("\nIn another shell, from the project folder:\n");
    println!("  source target/local-endpoint.env          # {}", exports.trim().replace('\n', "; "));
    println!("  export PATH=$PWD/.venv/bin:$PATH");
    println!("  cargo lambda watch &");
    println!("  cargo lambda invoke scale-down --data-file events/friday-evening.json");
    println!("  cargo lambda invoke scale-up --data-file events/monday-morning.json");
    println!("  aws ecs list-services --cluster previews  # any AWS CLI call works too, with the same variables");
    println!("\nCtrl-C stops the endpoint (its state is lost).");
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, request_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, request_stop as *const () as libc::sighandler_t);
    }
    while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(&env_file);
    println!("Stopping the endpoint.");
    drop(moto);
}

async fn demo() {
    println!("Building the functions ...");
    build_functions();
    println!("Starting a local AWS endpoint (moto server on 127.0.0.1) and seeding the demo fleet ...");
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    seed_demo_fleet(&seeder).await;
    let before = seeder.snapshot(&DEMO_CLUSTERS).await;
    println!("Serving the functions with `cargo lambda watch` against {} ...\n", moto.endpoint);
    let watch = LambdaWatch::start(&moto.env());

    let out_dir = testkit::project_root().join("target/demo");
    std::fs::create_dir_all(&out_dir).unwrap();
    let invoke = |function: &str, event: &str| -> Value {
        println!("$ cargo lambda invoke {function} --data-file events/{event}");
        let summary = watch.invoke_file(function, &event_file(event)).unwrap_or_else(|e| panic!("{function}: {e}"));
        let path = out_dir.join(format!("{function}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap()).unwrap();
        print_summary(&summary);
        println!("  (full JSON summary: {})\n", path.strip_prefix(testkit::project_root()).unwrap().display());
        summary
    };
    invoke("scale-down", "friday-evening.json");
    let asleep = seeder.snapshot(&DEMO_CLUSTERS).await;
    invoke("scale-up", "monday-morning.json");
    let restored = seeder.snapshot(&DEMO_CLUSTERS).await;
    print_table(&before, &asleep, &restored);
    let exact = before == restored;
    println!(
        "\n{}",
        if exact {
            "Every service is back exactly as it was: desired counts, scaling bounds, suspension flags and tags."
        } else {
            "WARNING: the fleet after scale-up differs from before; see the table."
        }
    );
    if !exact {
        std::process::exit(1);
    }
}

fn print_summary(s: &Value) {
    println!("  mode {}  now {}  dry_run {}", s["mode"], s["now"], s["dry_run"]);
    println!("  counts: {}", s["counts"]);
    println!("  AWS calls: {}", s["aws_calls"]);
    for e in s["services"].as_array().into_iter().flatten() {
        println!(
            "  {:<12} {:<28} {:<22} {}",
            e["action"].as_str().unwrap_or(""),
            format!("{}/{}", e["cluster"].as_str().unwrap_or(""), e["service"].as_str().unwrap_or("")),
            format!("{} -> {}", capacity(&e["from"]), capacity(&e["to"])),
            e["reason"].as_str().unwrap_or("")
        );
    }
}

fn capacity(c: &Value) -> String {
    match (c["min"].as_u64(), c["max"].as_u64()) {
        (Some(min), Some(max)) => format!("{} [{min}..{max}]", c["desired"]),
        _ => c["desired"].to_string(),
    }
}

fn describe(s: &ServiceState) -> String {
    match s.target {
        Some((min, max, flags)) => {
            let on: Vec<&str> = ["in", "out", "sched"].iter().zip(flags).filter(|(_, f)| *f).map(|(n, _)| *n).collect();
            format!(
                "{} [{min}..{max}]{}",
                s.desired,
                if on.is_empty() { String::new() } else { format!(" {}", on.join("+")) }
            )
        }
        None => s.desired.to_string(),
    }
}

fn print_table(
    before: &BTreeMap<String, ServiceState>,
    asleep: &BTreeMap<String, ServiceState>,
    restored: &BTreeMap<String, ServiceState>,
) {
    println!("Desired count [autoscaling min..max, suspended]:");
    println!("  {:<30} {:<20} {:<26} {:<20}", "service", "before", "after scale-down", "after scale-up");
    for (key, was) in before {
        println!("  {:<30} {:<20} {:<26} {:<20}", key, describe(was), describe(&asleep[key]), describe(&restored[key]));
    }
}
