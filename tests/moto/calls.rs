//! The fewest calls: a transition costs exactly the floor README's "AWS calls" section states,
//! checked against moto for cluster sizes on both sides of every page and batch limit.

use ecs_cost_saver::summary::Reported;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::{Config, Invocation, Mode, Summary};
use testkit::{Moto, Seeder};

/// One cluster per size: 1 and 10 fit one DescribeServices batch, 11 needs two; 100 fits one
/// ListServices/GetResources page, 101 spills over.
const SIZES: [usize; 5] = [1, 10, 11, 100, 101];
const FRIDAY_EVENING: &str = "2026-11-20T21:00:00Z";
const MONDAY_MORNING: &str = "2026-11-23T09:00:00Z";
const FAMILIES: [(&str, &str, &str, &str); 3] =
    [("small", "256", "512", "X86_64"), ("large", "1024", "2048", "X86_64"), ("arm", "2048", "4096", "ARM64")];

fn inv(mode: Mode, now: &str) -> Invocation {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now).unwrap().with_timezone(&Utc);
    Invocation { mode, now, dry_run: false, force: false }
}

fn ceil(n: usize, per_call: usize) -> u32 {
    n.div_ceil(per_call) as u32
}

/// Every service is tagged `Environment=dev` itself (clusters are not), so discovery is the
/// tagging query alone. The first `autoscaled` services, spread over all clusters, have targets.
async fn seed(s: &Seeder, autoscaled: usize) {
    for (family, cpu, memory, arch) in FAMILIES {
        s.task_definition(family, cpu, memory, arch).await;
    }
    let mut i = 0;
    for size in SIZES {
        let cluster = format!("c{size}");
        s.cluster(&cluster, &[]).await;
        for j in 0..size {
            let name = format!("svc-{j:03}");
            let family = FAMILIES[i % FAMILIES.len()].0;
            s.service_running(&cluster, &name, 2, &[("Environment", "dev")], family).await;
            i += 1;
        }
    }
    // Round-robin over clusters so batches of 50 ids mix clusters.
    let mut names: Vec<(String, String)> = Vec::new();
    for j in 0..*SIZES.iter().max().unwrap() {
        for size in SIZES.iter().filter(|n| j < **n) {
            names.push((format!("c{size}"), format!("svc-{j:03}")));
        }
    }
    for (cluster, name) in names.into_iter().take(autoscaled) {
        s.autoscale(&cluster, &name, 1, 4, [false, false, false]).await;
    }
}

/// `GetResources` pages for `n` resources of `tags` tags each. AWS pages by `ResourcesPerPage`
/// (100, as the adapter asks); moto also closes a page before it reaches 100 tags, so its pages
/// hold 99 resources of one tag, 49 of two. With one tag each this is AWS's ⌈n/100⌉ for n < 99·k.
fn moto_tagging_pages(n: usize, tags: usize) -> u32 {
    let per_page = 100usize.min(100usize.div_ceil(tags) - 1);
    n.div_ceil(per_page) as u32
}

fn calls(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().filter(|(_, n)| *n > 0).map(|(k, v)| (k.to_string(), *v)).collect()
}

fn writes(summary: &Summary) -> u32 {
    ["ecs:TagResource", "ecs:UntagResource", "ecs:UpdateService", "application-autoscaling:RegisterScalableTarget"]
        .iter()
        .filter_map(|op| summary.aws_calls.get(*op))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_transition_makes_exactly_the_floor_of_calls() {
    let n: usize = SIZES.iter().sum();
    let describe_batches: u32 = SIZES.iter().map(|c| ceil(*c, 10)).sum();
    assert_eq!(moto_tagging_pages(n, 1), ceil(n, 100), "one tag each: moto pages as AWS does");
    // The pacing is not what this test measures: let UpdateService through at once.
    let config = Config::from_lookup(|k| match k {
        "UPDATE_SERVICE_RATE" | "UPDATE_SERVICE_BURST" => Some("1000".into()),
        _ => None,
    })
    .unwrap();
    for a in [49, 50, 51] {
        let moto = Moto::start();
        let sdk = moto.sdk_config().await;
        seed(&Seeder::new(&sdk), a).await;

        let down = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
        assert_eq!(down.count(Reported::ScaledDown), n as u32, "A={a}");
        assert_eq!(
            down.aws_calls,
            calls(&[
                ("tagging:GetResources", ceil(n, 100)),
                ("ecs:DescribeClusters", 1),
                // Discovery, then the overlap checks before and after the writes (README:
                // Reliability, overlap).
                ("ecs:DescribeServices", 3 * describe_batches),
                // Which awake services are autoscaled is unknown until asked: one id per
                // service put to sleep; then the autoscaled ones again after the writes.
                ("application-autoscaling:DescribeScalableTargets", ceil(n, 50) + ceil(a, 50)),
                ("ecs:DescribeTaskDefinition", FAMILIES.len() as u32),
                ("ecs:TagResource", n as u32),
                ("application-autoscaling:RegisterScalableTarget", a as u32),
                ("ecs:UpdateService", n as u32),
            ]),
            "scale-down, A={a}"
        );
        // 2 tasks each of 75 small (0.0123425/h), 74 large (0.04937/h) and 74 ARM (0.079/h):
        // 2 * (0.9256875 + 3.65338 + 5.846) = 20.850135.
        assert_eq!((down.savings.asleep_tasks, down.savings.not_estimated), (2 * n as u64, 0));
        assert_eq!(down.savings.hourly_usd_avoided, 20.8501, "{:?}", down.savings);

        let again =
            run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleDown, "2026-11-20T22:00:00Z"), None).await.unwrap();
        assert_eq!(writes(&again), 0, "nothing changes, nothing is written: {:?}", again.aws_calls);

        let up = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleUp, MONDAY_MORNING), None).await.unwrap();
        assert_eq!(up.count(Reported::Restored), n as u32, "A={a}");
        assert_eq!(
            up.aws_calls,
            calls(&[
                // scale-up asks only for services carrying saved state (two tags each now).
                ("tagging:GetResources", moto_tagging_pages(n, 2)),
                ("ecs:DescribeClusters", 1),
                // Discovery, then the overlap check after the restores (README: overlap).
                ("ecs:DescribeServices", 2 * describe_batches),
                // The saved state says which are autoscaled: exactly those are asked, before
                // and after the writes.
                ("application-autoscaling:DescribeScalableTargets", 2 * ceil(a, 50)),
                ("ecs:DescribeTaskDefinition", FAMILIES.len() as u32),
                ("ecs:UntagResource", n as u32),
                ("application-autoscaling:RegisterScalableTarget", a as u32),
                ("ecs:UpdateService", n as u32),
            ]),
            "scale-up, A={a}"
        );
        let up_again =
            run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleUp, "2026-11-23T10:00:00Z"), None).await.unwrap();
        assert_eq!(writes(&up_again), 0, "{:?}", up_again.aws_calls);
        assert_eq!(up_again.aws_calls, calls(&[("tagging:GetResources", 1)]), "nothing asleep: one empty page");
        drop(moto);
    }
}
