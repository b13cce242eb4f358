//! The local demo: a moto server seeded with a small fleet, then the real `scale-down` and
//! `scale-up` functions served by `cargo lambda watch` and invoked with files from `events/`.
//! Run it with `scripts/demo.sh`.

#[path = "mod.rs"]
mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{build_functions, event_file, seed_demo_fleet, LambdaWatch, Moto, Seeder, ServiceState, DEMO_CLUSTERS};

#[tokio::main]
async fn main() {
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

    let out_dir = support::project_root().join("target/demo");
    std::fs::create_dir_all(&out_dir).unwrap();
    let invoke = |function: &str, event: &str| -> Value {
        println!("$ cargo lambda invoke {function} --data-file events/{event}");
        let summary = watch.invoke_file(function, &event_file(event)).unwrap_or_else(|e| panic!("{function}: {e}"));
        let path = out_dir.join(format!("{function}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap()).unwrap();
        print_summary(&summary);
        println!("  (full JSON summary: {})\n", path.strip_prefix(support::project_root()).unwrap().display());
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
