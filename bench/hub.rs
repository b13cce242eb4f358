//! The many-accounts benchmark (not a test): 10 targets (5 accounts × 2 regions) of 1,000
//! services each, every target on a moto server of its own (as every account and region has its
//! own ECS endpoint and token bucket), behind one router that adds a per-call latency like AWS's
//! (`testkit::account_router`). The release `scale-down` and `scale-up` bootstraps run first on
//! one target, then on all ten (`TARGETS`); prints markdown: wall time against one target's,
//! calls per target, peak RSS. Run it with `scripts/bench-hub.sh`, which builds the two
//! bootstraps first.

// Shared with bench/main.rs, which uses all of them.
#[allow(dead_code)]
mod process;
#[allow(dead_code)]
mod runtime_api;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::account_router::AccountRouter;
use testkit::{Moto, Seeder};

use process::invoke;

const ACCOUNTS: usize = 5;
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-2"];
const CLUSTERS: usize = 10;
/// Services per cluster (`BENCH_PER_CLUSTER` for a quick smoke run).
fn per_cluster() -> usize {
    std::env::var("BENCH_PER_CLUSTER").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}
/// Autoscaled services per cluster.
const AUTOSCALED: usize = 10;

fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_001 + i as u64)
}

async fn seed(s: &Seeder) {
    for c in 0..CLUSTERS {
        let cluster = format!("dev-{c:02}");
        s.cluster(&cluster, &[("Environment", "dev")]).await;
        for i in 0..per_cluster() {
            let name = format!("svc-{i:02}");
            s.service(&cluster, &name, 1 + (i % 3) as i32, &[]).await;
            if i < AUTOSCALED.min(per_cluster()) {
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
    /// STS calls the router saw during the run (the hub's own: GetCallerIdentity, AssumeRole).
    sts_calls: u32,
    /// The invocation's error, if it ended in one (its summary is then only in the log).
    error: Option<String>,
    /// Services failed or not reached, as its error message counts them.
    failed_by_error: Option<u64>,
}

type Seen = Arc<Mutex<BTreeMap<String, u32>>>;

fn measure(label: &str, env: &[(String, String)], function: &str, event: Value, seen: &Seen) -> Measured {
    let sts = |m: &BTreeMap<String, u32>| m.iter().filter(|(k, _)| k.starts_with("sts:")).map(|(_, n)| n).sum::<u32>();
    let before = sts(&seen.lock().unwrap());
    let run = invoke(env.to_vec(), function, event, &[]);
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
        sts_calls: sts(&seen.lock().unwrap()) - before,
        error: s.get("error").map(|e| ecs_cost_saver::text::cut(&e.to_string(), 300)),
        // An invocation that ended in an error answers no summary: its message counts them.
        failed_by_error: s["error"]["errorMessage"]
            .as_str()
            .and_then(|m| m.split(" service(s) failed").next()?.parse().ok()),
    }
}

#[tokio::main]
async fn main() {
    let latency_ms: u64 = std::env::var("BENCH_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let targets: Vec<(String, &str)> =
        (0..ACCOUNTS).flat_map(|a| REGIONS.iter().map(move |r| (account(a), *r))).collect();
    let sts = Moto::start();
    let servers: Vec<Moto> = targets.iter().map(|_| Moto::start()).collect();
    let seeding = Instant::now();
    let configs = futures_util::future::join_all(servers.iter().zip(&targets).map(|(m, (_, r))| async move {
        m.sdk_config().await.to_builder().region(aws_config::Region::new(r.to_string())).build()
    }))
    .await;
    futures_util::future::join_all(configs.iter().map(|c| async move { seed(&Seeder::new(c)).await })).await;
    eprintln!("seeded {} targets in {:.1} s", targets.len(), seeding.elapsed().as_secs_f64());

    let routes = targets.iter().zip(&servers).map(|((a, r), m)| ((a.clone(), r.to_string()), m.port)).collect();
    let router = AccountRouter::start(sts.port, routes, Duration::from_millis(latency_ms)).await;
    let seen = router.calls.clone();
    let env = |targets: &str| -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = sts.env().into_iter().filter(|(k, _)| k != "AWS_ENDPOINT_URL").collect();
        env.push(("AWS_ENDPOINT_URL".into(), router.endpoint.clone()));
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
        "{} targets ({ACCOUNTS} accounts × {} regions), each {} services over {CLUSTERS} clusters ({} autoscaled) on \
         a moto server of its own, behind one router adding {latency_ms} ms to every call. The release bootstraps \
         run with `TARGETS` set to the first target, then to all ten; default pacing (UpdateService 5/s, burst 50, \
         per target), the template's 300 s timeout.\n",
        targets.len(),
        REGIONS.len(),
        CLUSTERS * per_cluster(),
        CLUSTERS * AUTOSCALED.min(per_cluster())
    );
    println!("| run | targets | services | wall | peak RSS | AWS calls per target (min–max) | UpdateService per target | STS calls | failed / not reached |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &runs {
        println!(
            "| {} | {} | {} | **{:.1} s** | {:.1} MiB | {}–{} | {} | {} | {} |",
            m.label,
            m.targets,
            m.services,
            m.wall.as_secs_f64(),
            m.peak_rss_mib,
            m.calls_per_target.0,
            m.calls_per_target.1,
            m.update_service_per_target,
            m.sts_calls,
            match m.failed_by_error {
                Some(n) => format!("{n} (the error's count: no summary answered)"),
                None => format!("{} / {}", m.failed, m.not_reached),
            }
        );
    }
    for m in runs.iter().filter(|m| m.error.is_some()) {
        println!("\n{} ended in an error: {}", m.label, m.error.as_deref().unwrap_or(""));
    }
    let ratio = |a: &Measured, b: &Measured| a.wall.as_secs_f64() / b.wall.as_secs_f64().max(0.001);
    println!(
        "\nTen targets took {:.2}× one target's time to sleep and {:.2}× to restore.",
        ratio(&runs[2], &runs[0]),
        ratio(&runs[3], &runs[1])
    );
}
