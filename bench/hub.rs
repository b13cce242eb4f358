//! The many-accounts benchmark (not a test): 10 targets (5 accounts × 2 regions) of 1,000
//! services each on one moto server, behind a proxy that adds a per-call latency like AWS's.
//! The release `scale-down` and `scale-up` bootstraps run first on one target, then on all ten
//! (`TARGETS`); prints markdown: wall time against one target's, calls per target, peak RSS.
//! Run it with `scripts/bench-hub.sh`, which builds the two bootstraps first.

// Shared with bench/main.rs, which uses all of them.
#[allow(dead_code)]
mod process;
#[allow(dead_code)]
mod runtime_api;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::fault_proxy::{Call, Fault, FaultProxy};
use testkit::{account_config, Moto, Seeder};

use process::invoke;

const ACCOUNTS: usize = 5;
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-2"];
const CLUSTERS: usize = 10;
const PER_CLUSTER: usize = 100;
/// Autoscaled services per cluster.
const AUTOSCALED: usize = 10;

fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_001 + i as u64)
}

async fn seed(s: &Seeder) {
    for c in 0..CLUSTERS {
        let cluster = format!("dev-{c:02}");
        s.cluster(&cluster, &[("Environment", "dev")]).await;
        for i in 0..PER_CLUSTER {
            let name = format!("svc-{i:02}");
            s.service(&cluster, &name, 1 + (i % 3) as i32, &[]).await;
            if i < AUTOSCALED {
                s.autoscale(&cluster, &name, 1, 6, [false, false, false]).await;
            }
        }
    }
}

struct Measured {
    label: String,
    targets: usize,
    wall: Duration,
    peak_rss_mib: f64,
    services: u64,
    failed: u64,
    not_reached: u64,
    /// AWS calls of each target's own run (the summary's roll-up), min and max.
    calls_per_target: (u64, u64),
    update_service_per_target: u64,
    /// STS calls the proxy saw during the run (the hub's own: GetCallerIdentity, AssumeRole).
    sts_calls: u32,
}

fn measure(label: &str, env: &[(String, String)], function: &str, event: Value, seen: &Seen) -> Measured {
    let before = seen.lock().unwrap().clone();
    let run = invoke(env.to_vec(), function, event, &[]);
    let after = seen.lock().unwrap().clone();
    let sts =
        after.iter().filter(|(op, _)| op.starts_with("sts:")).map(|(op, n)| n - before.get(op).unwrap_or(&0)).sum();
    let s = &run.response;
    let counts = |k: &str| s["counts"][k].as_u64().unwrap_or(0);
    let rollup = s["targets"].as_array().cloned().unwrap_or_default();
    let per_target: Vec<u64> = rollup.iter().map(|t| t["aws_calls"].as_u64().unwrap_or(0)).collect();
    let targets = rollup.len();
    Measured {
        label: label.to_string(),
        targets,
        wall: run.wall,
        peak_rss_mib: run.peak_rss_kib as f64 / 1024.0,
        services: s["services"].as_array().map_or(0, |v| v.len() as u64),
        failed: counts("failed"),
        not_reached: counts("not_reached"),
        calls_per_target: (
            per_target.iter().copied().min().unwrap_or(0),
            per_target.iter().copied().max().unwrap_or(0),
        ),
        update_service_per_target: s["aws_calls"]["ecs:UpdateService"].as_u64().unwrap_or(0) / targets.max(1) as u64,
        sts_calls: sts,
    }
}

type Seen = Arc<Mutex<BTreeMap<String, u32>>>;

#[tokio::main]
async fn main() {
    let latency_ms: u64 = std::env::var("BENCH_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let moto = Moto::start();
    let targets: Vec<(String, &str)> =
        (0..ACCOUNTS).flat_map(|a| REGIONS.iter().map(move |r| (account(a), *r))).collect();
    let seeding = Instant::now();
    let seeders = futures_util::future::join_all(targets.iter().map(|(a, r)| account_config(&moto, a, r))).await;
    futures_util::future::join_all(seeders.iter().map(|c| async move { seed(&Seeder::new(c)).await })).await;
    eprintln!("seeded {} targets in {:.1} s", targets.len(), seeding.elapsed().as_secs_f64());

    let seen: Seen = Arc::default();
    let counting = seen.clone();
    let rule = Arc::new(move |c: &Call| {
        *counting.lock().unwrap().entry(c.operation.to_string()).or_insert(0) += 1;
        (latency_ms > 0).then(|| Fault::Delay(Duration::from_millis(latency_ms)))
    });
    let proxy = FaultProxy::start(moto.port, rule).await;
    let env = |targets: &str| -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = moto.env().into_iter().filter(|(k, _)| k != "AWS_ENDPOINT_URL").collect();
        env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint.clone()));
        env.push(("TARGETS".into(), targets.to_string()));
        env
    };
    let one = format!("{}:{}", targets[0].0, targets[0].1);
    let all: Vec<String> = targets.iter().map(|(a, r)| format!("{a}:{r}")).collect();
    let down = json!({"now": "2026-11-20T20:00:00Z"});
    let up = json!({"now": "2026-11-23T08:00:00Z"});
    let runs = [
        measure("`scale-down`, one target", &env(&one), "scale-down", down.clone(), &seen),
        measure("`scale-up`, one target", &env(&one), "scale-up", up.clone(), &seen),
        measure("`scale-down`, ten targets", &env(&all.join(",")), "scale-down", down, &seen),
        measure("`scale-up`, ten targets", &env(&all.join(",")), "scale-up", up, &seen),
    ];

    println!("## Many accounts (10 targets × 1,000 services)\n");
    println!(
        "{} targets ({ACCOUNTS} accounts × {} regions), each {} services over {CLUSTERS} clusters ({} autoscaled), \
         on one moto server behind a proxy adding {latency_ms} ms to every call. The release bootstraps run \
         with `TARGETS` set to the first target, then to all ten; default pacing (UpdateService 5/s, burst 50, \
         per target).\n",
        targets.len(),
        REGIONS.len(),
        CLUSTERS * PER_CLUSTER,
        CLUSTERS * AUTOSCALED
    );
    println!("| run | targets | services | wall | peak RSS | AWS calls per target (min–max) | UpdateService per target | STS calls | failed / not reached |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &runs {
        println!(
            "| {} | {} | {} | **{:.1} s** | {:.1} MiB | {}–{} | {} | {} | {} / {} |",
            m.label,
            m.targets,
            m.services,
            m.wall.as_secs_f64(),
            m.peak_rss_mib,
            m.calls_per_target.0,
            m.calls_per_target.1,
            m.update_service_per_target,
            m.sts_calls,
            m.failed,
            m.not_reached
        );
    }
    let ratio = |a: &Measured, b: &Measured| a.wall.as_secs_f64() / b.wall.as_secs_f64().max(0.001);
    println!(
        "\nTen targets took {:.2}× one target's time to sleep and {:.2}× to restore.",
        ratio(&runs[2], &runs[0]),
        ratio(&runs[3], &runs[1])
    );
}
