//! The benchmark (not a test): 1,000 services over 20 clusters, 200 of them autoscaled, on a local
//! moto server; `scale-down` then `scale-up` run by the release `bootstrap` binaries under a
//! minimal Lambda runtime API. Prints markdown: wall time per transition, calls per operation
//! against the floor, peak RSS, start-up time to the first poll (median of 20) and zipped sizes.
//! Run it with `scripts/bench.sh`, which builds the binaries first.

mod process;
mod runtime_api;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{project_root, Moto, Seeder};

use process::{bootstrap, function_env, invoke, Run};
use runtime_api::RuntimeApi;

const CLUSTERS: usize = 20;
const PER_CLUSTER: usize = 50;
const AUTOSCALED: usize = 200;
const FAMILIES: [(&str, &str, &str, &str); 3] =
    [("small", "256", "512", "X86_64"), ("large", "1024", "2048", "X86_64"), ("arm", "2048", "4096", "ARM64")];
const STARTS: usize = 20;
use process::TIMEOUT;

/// Median time from spawning the binary to its first `GET /runtime/invocation/next`.
fn start_up(moto: &Moto, function: &str) -> (Duration, Duration, Duration) {
    let mut times = Vec::new();
    for _ in 0..STARTS {
        let api = RuntimeApi::start(None, TIMEOUT);
        let spawned = Instant::now();
        let mut child = Command::new(bootstrap(function))
            .env_clear()
            .envs(function_env(moto.env(), function, &api, &[]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let first_poll = api.wait_for_first_poll(Duration::from_secs(30));
        times.push(first_poll - spawned);
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort();
    (times[0], times[STARTS / 2], times[STARTS - 1])
}

fn zipped_size(function: &str) -> Option<u64> {
    std::fs::metadata(project_root().join("target/lambda").join(function).join("bootstrap.zip")).ok().map(|m| m.len())
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

async fn seed(s: &Seeder) {
    for (family, cpu, memory, arch) in FAMILIES {
        s.task_definition(family, cpu, memory, arch).await;
    }
    for c in 0..CLUSTERS {
        let cluster = format!("dev-{c:02}");
        s.cluster(&cluster, &[]).await;
        for i in 0..PER_CLUSTER {
            let family = FAMILIES[(c * PER_CLUSTER + i) % FAMILIES.len()].0;
            s.service_running(&cluster, &format!("svc-{i:02}"), 1 + (i % 3) as i32, &[("Environment", "dev")], family)
                .await;
            // The first services of each cluster are autoscaled, 10 a cluster.
            if i < AUTOSCALED / CLUSTERS {
                s.autoscale(&cluster, &format!("svc-{i:02}"), 1, 6, [false, false, false]).await;
            }
        }
    }
}

/// The floor per operation for this fleet (README, "AWS calls"), and what the design adds.
fn floor(mode: &str) -> Vec<(&'static str, u64, &'static str)> {
    let n = (CLUSTERS * PER_CLUSTER) as u64;
    let describe = (CLUSTERS as u64) * PER_CLUSTER.div_ceil(10) as u64;
    let targets = AUTOSCALED.div_ceil(50) as u64;
    let mut rows = vec![
        ("tagging:GetResources", n.div_ceil(100), ""),
        ("ecs:DescribeClusters", CLUSTERS.div_ceil(100) as u64, ""),
        ("ecs:DescribeServices", describe, ""),
        ("application-autoscaling:DescribeScalableTargets", targets, ""),
        ("ecs:DescribeTaskDefinition", FAMILIES.len() as u64, ""),
        ("ecs:UpdateService", n, ""),
        ("application-autoscaling:RegisterScalableTarget", AUTOSCALED as u64, ""),
    ];
    if mode == "scale-down" {
        rows.push(("ecs:TagResource", n, ""));
        rows[2].2 = "plus the overlap checks: one re-read per 10 before and one after writing";
        rows[3].2 = "ids of every service put to sleep: ⌈N/50⌉ (autoscaled ones are unknown before asking), \
                     plus the autoscaled ones again after writing";
    } else {
        rows.push(("ecs:UntagResource", n, ""));
        rows[2].2 = "plus one re-read per 10 restored (the overlap check after write)";
        rows[3].2 = "plus the autoscaled ones again after writing (the overlap check)";
    }
    rows
}

fn report(mode: &str, run: &Run) {
    let summary = &run.response;
    println!("\n### `{mode}`\n");
    println!("- wall time (event handed out → response received): **{:.2} s**", run.wall.as_secs_f64());
    println!("- peak RSS of the function process (VmHWM): **{:.1} MiB**", run.peak_rss_kib as f64 / 1024.0);
    println!("- services: {}", serde_json::to_string(&summary["counts"]).unwrap_or_default());
    println!("- savings: {}", serde_json::to_string(&summary["savings"]).unwrap_or_default());
    println!("\n| operation | calls | floor | note |\n|---|---:|---:|---|");
    let calls: BTreeMap<String, u64> = serde_json::from_value(summary["aws_calls"].clone()).unwrap_or_default();
    let rows = floor(mode);
    for (op, want, note) in &rows {
        let got = calls.get(*op).copied().unwrap_or(0);
        let mark = if got <= *want { "" } else { " ↑" };
        println!("| `{op}` | {got}{mark} | {want} | {note} |");
    }
    for (op, got) in calls.iter().filter(|(op, _)| !rows.iter().any(|(r, _, _)| r == op)) {
        println!("| `{op}` | {got} | 0 | not in the floor |");
    }
    if let Some(emf) = &run.emf {
        println!("\nEMF line:\n\n```json\n{emf}\n```");
    }
}

#[tokio::main]
async fn main() {
    let pacing: Vec<(String, String)> = std::env::args()
        .skip(1)
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let extra: Vec<(&str, &str)> = pacing.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeding = Instant::now();
    seed(&Seeder::new(&sdk)).await;
    eprintln!("seeded {} services in {:.1} s", CLUSTERS * PER_CLUSTER, seeding.elapsed().as_secs_f64());

    println!("## Fleet\n");
    println!(
        "{} services over {CLUSTERS} clusters of {PER_CLUSTER}, {AUTOSCALED} autoscaled, {} task definitions; \
         moto server on 127.0.0.1. Extra environment: {}.",
        CLUSTERS * PER_CLUSTER,
        FAMILIES.len(),
        if extra.is_empty() {
            "none (defaults: UpdateService paced at 5/s, burst 50)".to_string()
        } else {
            format!("{extra:?}")
        }
    );

    let down = invoke(moto.env(), "scale-down", serde_json::json!({"now": "2026-11-20T20:00:00Z"}), &extra);
    report("scale-down", &down);
    let up = invoke(moto.env(), "scale-up", serde_json::json!({"now": "2026-11-23T08:00:00Z"}), &extra);
    report("scale-up", &up);

    println!("\n## Binaries\n");
    println!("| function | bootstrap | zipped | start-up to first poll: min / median / max of {STARTS} |\n|---|---:|---:|---|");
    for function in ["scale-down", "scale-up", "reconcile", "wake"] {
        let (min, median, max) = start_up(&moto, function);
        let zipped = zipped_size(function).map(|b| format!("{:.2} MiB", b as f64 / 1048576.0)).unwrap_or("-".into());
        println!(
            "| `{function}` | {:.2} MiB | {zipped} | {:.1} / **{:.1}** / {:.1} ms |",
            size_of(&bootstrap(function)) as f64 / 1048576.0,
            min.as_secs_f64() * 1000.0,
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0
        );
    }
}
