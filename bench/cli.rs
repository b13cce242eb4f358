//! The command line's benchmark (not a test): 500 services over 10 clusters (100 autoscaled) on
//! a local moto server, asleep after a Friday-evening scale-down. Measures the release binary's
//! start-up (`--version`, min / median / max of 20), `status` on the whole fleet (wall time of 5,
//! peak RSS), and its AWS reads against those of one `reconcile` of the same fleet (the issue's
//! bound: at most twice). Prints markdown; `scripts/bench-cli.sh` builds the binary first and puts
//! the section into docs/benchmarks.md.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::summary::Reported;
use ecs_cost_saver::{Config, Invocation, Mode};
use serde_json::Value;
use testkit::{project_root, Moto, Seeder};

const CLUSTERS: usize = 10;
const PER_CLUSTER: usize = 50;
const AUTOSCALED_PER_CLUSTER: usize = 10;
const STARTS: usize = 20;
const STATUS_RUNS: usize = 5;
const FRIDAY_EVENING: &str = "2030-11-22T21:00:00Z";

fn settings(key: &str) -> Option<String> {
    // No pacing for the setup's scale-down: the benchmark is about the command line.
    (key == "UPDATE_SERVICE_RATE").then(|| "1000".to_string())
}

/// One run of the binary: wall time, stdout, whether it succeeded, and its own peak RSS (KiB).
// The child is reaped by wait4, which std's `wait` cannot replace: it also returns the child's
// own resource usage.
#[allow(clippy::zombie_processes)]
fn cli(moto: &Moto, args: &[&str]) -> (Duration, Vec<u8>, bool, i64) {
    use std::io::Read;
    let started = Instant::now();
    let mut child = Command::new(project_root().join("target/release/ecs-cost-saver"))
        .args(args)
        .env_clear()
        .envs(moto.env())
        .env("HOME", "/nonexistent")
        .env("UPDATE_SERVICE_RATE", "1000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("target/release/ecs-cost-saver: run scripts/bench-cli.sh");
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    // wait4 reports this child's own resource usage (RUSAGE_CHILDREN would be the largest of all).
    let (mut status, mut usage): (libc::c_int, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    // SAFETY: the pid is our unwaited child; wait4 writes into values we own.
    unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (started.elapsed(), stdout, ok, usage.ru_maxrss)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    let seeding = Instant::now();
    seeder.task_definition("small", "256", "512", "X86_64").await;
    for c in 0..CLUSTERS {
        let cluster = format!("dev-{c:02}");
        seeder.cluster(&cluster, &[("Environment", "dev")]).await;
        for i in 0..PER_CLUSTER {
            let name = format!("svc-{i:02}");
            seeder.service_running(&cluster, &name, 1 + (i % 3) as i32, &[], "small").await;
            if i < AUTOSCALED_PER_CLUSTER {
                seeder.autoscale(&cluster, &name, 1, 6, [false, false, false]).await;
            }
        }
    }
    eprintln!("seeded {} services in {:.1} s", CLUSTERS * PER_CLUSTER, seeding.elapsed().as_secs_f64());
    let config = Config::from_lookup(settings).unwrap();
    let fleet = AwsFleet::new(&sdk);
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let down = Invocation { mode: Mode::ScaleDown, now: at("2030-11-22T20:00:00Z"), dry_run: false, force: false };
    let slept = run(&fleet, &config, down, None).await.unwrap();
    eprintln!("asleep: {}", slept.count(Reported::ScaledDown));
    let reconcile = Invocation { mode: Mode::Reconcile, now: at(FRIDAY_EVENING), dry_run: true, force: false };
    let reconciled = run(&fleet, &config, reconcile, None).await.unwrap();
    let reconcile_reads: u32 = reconciled.aws_calls.values().sum();

    let mut starts: Vec<Duration> = (0..STARTS).map(|_| cli(&moto, &["--version"]).0).collect();
    let build_seconds = std::env::args().nth(1).unwrap_or_else(|| "?".into());
    starts.sort();
    let mut walls = Vec::new();
    let mut status: Value = Value::Null;
    let mut rss = 0;
    for _ in 0..STATUS_RUNS {
        let (wall, stdout, ok, peak) = cli(&moto, &["--local-config", "status", "--json", "--at", FRIDAY_EVENING]);
        assert!(ok, "status failed");
        status = serde_json::from_slice(&stdout).unwrap();
        walls.push(wall);
        rss = rss.max(peak);
    }
    walls.sort();
    let calls = status["aws_calls"].as_object().cloned().unwrap_or_default();
    let status_reads: u64 = calls.values().filter_map(Value::as_u64).sum();

    println!("## Command line\n");
    println!(
        "`ecs-cost-saver` release binary (`scripts/bench-cli.sh`), {} services over {CLUSTERS} clusters, {} autoscaled, \
         {} asleep after a Friday-evening scale-down; moto server on 127.0.0.1; settings from the environment \
         (`--local-config`).\n",
        CLUSTERS * PER_CLUSTER,
        CLUSTERS * AUTOSCALED_PER_CLUSTER,
        status["totals"]["asleep"]
    );
    println!(
        "- binary: {:.2} MiB",
        std::fs::metadata(project_root().join("target/release/ecs-cost-saver")).map(|m| m.len()).unwrap_or(0) as f64
            / 1048576.0
    );
    println!(
        "- start-up (`--version`, spawn to exit): {:.1} / **{:.1}** / {:.1} ms (min / median / max of {STARTS})",
        ms(starts[0]),
        ms(starts[STARTS / 2]),
        ms(starts[STARTS - 1])
    );
    println!(
        "- `status --json` of the fleet: {:.0} / **{:.0}** / {:.0} ms (min / median / max of {STATUS_RUNS}), peak RSS {:.1} MiB",
        ms(walls[0]),
        ms(walls[STATUS_RUNS / 2]),
        ms(walls[STATUS_RUNS - 1]),
        rss as f64 / 1024.0
    );
    println!(
        "- AWS reads: `status` **{status_reads}**, one `reconcile` of the same fleet {reconcile_reads} (bound: {}, twice over)",
        2 * reconcile_reads
    );
    println!("- release build of the command line (fat LTO, warm dependency cache): {build_seconds} s");
    println!("\n| operation | status | reconcile |\n|---|---:|---:|");
    let mut ops: Vec<&String> = calls.keys().chain(reconciled.aws_calls.keys()).collect();
    ops.sort();
    ops.dedup();
    for op in ops {
        println!(
            "| `{op}` | {} | {} |",
            calls.get(op).and_then(Value::as_u64).unwrap_or(0),
            reconciled.aws_calls.get(op).copied().unwrap_or(0)
        );
    }
    println!();
}
