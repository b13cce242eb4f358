//! The library's AWS adapter against a real AWS-compatible HTTP endpoint (moto server).

use ecs_cost_saver::summary::Reported;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::{AwsFleet, READ_OPERATIONS, WRITE_OPERATIONS};
use ecs_cost_saver::run::run;
use ecs_cost_saver::{Config, Invocation, Mode, Summary};
use testkit::{Moto, Seeder};

const CLUSTERS: [&str; 4] = ["previews", "dev-big", "dev-small", "prod"];
const FRIDAY_EVENING: &str = "2026-11-20T21:00:00Z";
const MONDAY_MORNING: &str = "2026-11-23T09:00:00Z";
const PREVIEWS: usize = 60;
const DEV_BIG: usize = 12;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn inv(mode: Mode, now: &str, dry_run: bool) -> Invocation {
    Invocation { mode, now: at(now), dry_run, force: false }
}

/// Bounds and suspension flags vary per preview so restoring the exact prior state is visible.
fn preview_scaling(i: usize) -> (i32, i32, [bool; 3]) {
    let min = (i % 3) as i32;
    let flags = match i % 4 {
        0 => [false, false, false],
        1 => [true, false, false],
        2 => [false, true, true],
        _ => [true, true, true],
    };
    (min, min + 3 + (i % 4) as i32, flags)
}

async fn seed(s: &Seeder) {
    s.cluster("previews", &[("Environment", "preview")]).await;
    s.cluster("dev-big", &[("Environment", "DEV")]).await;
    s.cluster("dev-small", &[("team", "tools")]).await;
    s.cluster("prod", &[("Environment", "prod")]).await;
    for i in 0..PREVIEWS {
        let (min, max, flags) = preview_scaling(i);
        let name = format!("pr-{i:02}");
        s.service("previews", &name, min + 1, &[]).await;
        s.autoscale("previews", &name, min, max, flags).await;
    }
    for i in 0..DEV_BIG {
        s.service("dev-big", &format!("svc-{i:02}"), (i % 3 + 1) as i32, &[]).await;
    }
    let dev = ("Environment", "dev");
    s.service("dev-small", "api", 2, &[dev]).await;
    s.service("dev-small", "zero", 0, &[dev]).await;
    s.service("dev-small", "kept", 2, &[dev, ("cost-saver:keep-alive", "true")]).await;
    s.service("dev-small", "kept-expired", 1, &[dev, ("cost-saver:keep-alive", "2026-11-20T19:00:00Z")]).await;
    s.service("dev-small", "prod-db", 3, &[("Environment", "production")]).await;
    s.service("dev-small", "staging-api", 2, &[("Environment", "staging")]).await;
    s.service("dev-small", "untagged", 2, &[]).await;
    s.service("prod", "checkout", 4, &[dev]).await;
}

fn expected_asleep() -> Vec<String> {
    let mut names: Vec<String> = (0..PREVIEWS).map(|i| format!("previews/pr-{i:02}")).collect();
    names.extend((0..DEV_BIG).map(|i| format!("dev-big/svc-{i:02}")));
    names.extend(["dev-small/api".to_string(), "dev-small/kept-expired".to_string()]);
    names
}

/// The writes in a summary; every call must be a listed read or write, so the lists the template
/// is tested against are complete.
fn write_calls(summary: &Summary) -> BTreeMap<String, u32> {
    for op in summary.aws_calls.keys() {
        let known = READ_OPERATIONS.contains(&op.as_str()) || WRITE_OPERATIONS.contains(&op.as_str());
        assert!(known, "{op} is missing from READ_OPERATIONS/WRITE_OPERATIONS, which the template is tested against");
    }
    summary
        .aws_calls
        .iter()
        .filter(|(op, _)| WRITE_OPERATIONS.contains(&op.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn calls(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sleeps_and_restores_a_multi_cluster_fleet_exactly() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    seed(&seeder).await;
    let config = Config::from_lookup(|_| None).unwrap();
    let before = seeder.snapshot(&CLUSTERS).await;
    assert_eq!(before.len(), PREVIEWS + DEV_BIG + 8);

    // A dry run plans everything and changes nothing.
    let dry = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleDown, FRIDAY_EVENING, true), None).await.unwrap();
    assert_eq!(dry.count(Reported::WouldScaleDown), expected_asleep().len() as u32);
    assert!(write_calls(&dry).is_empty());
    assert_eq!(seeder.snapshot(&CLUSTERS).await, before);

    let down = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleDown, FRIDAY_EVENING, false), None).await.unwrap();
    assert_eq!(down.count(Reported::Failed), 0, "{:#?}", down.failures().collect::<Vec<_>>());
    assert_eq!(down.count(Reported::ScaledDown), 74);
    let asleep = seeder.snapshot(&CLUSTERS).await;
    let sleepers = expected_asleep();
    for (key, was) in &before {
        let now = &asleep[key];
        if !sleepers.contains(key) {
            assert_eq!(now, was, "{key} must be untouched");
            continue;
        }
        assert_eq!(now.desired, 0, "{key}");
        let saved = &now.tags["cost-saver:saved"];
        let expected = match was.target {
            Some((min, max, flags)) => {
                let names: Vec<&str> =
                    ["in", "out", "scheduled"].iter().zip(flags).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
                let suspended = if names.is_empty() { "none".to_string() } else { names.join("+") };
                format!("desired={} min={min} max={max} suspended={suspended} at={FRIDAY_EVENING}", was.desired)
            }
            None => format!("desired={} at={FRIDAY_EVENING}", was.desired),
        };
        assert_eq!(saved, &expected, "{key}");
        assert_eq!(now.target, was.target.map(|_| (0, 0, [true, true, true])), "{key}");
    }
    // Discovery within AWS's per-call limits: 10 services per describe, 50 targets per call.
    assert_eq!(
        down.aws_calls,
        calls(&[
            ("tagging:GetResources", 1),
            ("ecs:ListServices", 2),
            ("ecs:DescribeClusters", 1),
            // Discovery (6 + 2 + 1 + 1 batches), then the overlap checks before and after the
            // writes over the 74 services put to sleep (60 + 12 + 2: 6 + 2 + 1 batches each).
            ("ecs:DescribeServices", 6 + 2 + 1 + 1 + 2 * (6 + 2 + 1)),
            // The 74 asked once; the 60 autoscaled again after the writes.
            ("application-autoscaling:DescribeScalableTargets", 2 + 2),
            ("ecs:DescribeTaskDefinition", 1),
            ("ecs:TagResource", 74),
            ("application-autoscaling:RegisterScalableTarget", 60),
            ("ecs:UpdateService", 74),
        ])
    );

    // Running scale-down again changes nothing.
    let again =
        run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleDown, "2026-11-20T22:00:00Z", false), None).await.unwrap();
    assert!(write_calls(&again).is_empty(), "{:?}", again.aws_calls);
    assert_eq!(seeder.snapshot(&CLUSTERS).await, asleep);

    // Saturday: scale-up leaves them asleep.
    let saturday =
        run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleUp, "2026-11-21T09:00:00Z", false), None).await.unwrap();
    assert!(write_calls(&saturday).is_empty(), "{:?}", saturday.aws_calls);

    let dry_up = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleUp, MONDAY_MORNING, true), None).await.unwrap();
    assert_eq!(dry_up.count(Reported::WouldRestore), 74);
    assert_eq!(seeder.snapshot(&CLUSTERS).await, asleep);

    let up = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleUp, MONDAY_MORNING, false), None).await.unwrap();
    assert_eq!(up.count(Reported::Failed), 0, "{:#?}", up.failures().collect::<Vec<_>>());
    assert_eq!(up.count(Reported::Restored), 74);
    let restored = seeder.snapshot(&CLUSTERS).await;
    // Exact counts, bounds and prior suspension flags; saved removed; a team's zero still zero.
    for (key, was) in &before {
        assert_eq!(&restored[key], was, "{key}");
    }
    assert_eq!(
        write_calls(&up),
        calls(&[
            ("ecs:UntagResource", 74),
            ("application-autoscaling:RegisterScalableTarget", 60),
            ("ecs:UpdateService", 74),
        ])
    );
    assert_eq!(up.aws_calls["tagging:GetResources"], 1, "scale-up asks only for the saved-state key");
}

/// A service raised by hand while asleep keeps its higher count; a service whose scope tag was
/// removed while asleep is still restored.
#[tokio::test(flavor = "multi_thread")]
async fn restore_respects_manual_raises_and_services_leaving_scope() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s = Seeder::new(&sdk);
    s.cluster("c", &[]).await;
    s.service("c", "raised", 2, &[("Environment", "dev")]).await;
    let leaver = s.service("c", "leaver", 3, &[("Environment", "dev")]).await;
    let config = Config::from_lookup(|_| None).unwrap();
    run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleDown, FRIDAY_EVENING, false), None).await.unwrap();

    s.set_desired("c", "raised", 5).await;
    s.ecs.untag_resource().resource_arn(&leaver).tag_keys("Environment").send().await.unwrap();
    let up = run(&AwsFleet::new(&sdk), &config, inv(Mode::ScaleUp, MONDAY_MORNING, false), None).await.unwrap();
    assert_eq!(up.count(Reported::Restored), 2, "{:#?}", up.services);
    let after = s.snapshot(&["c"]).await;
    assert_eq!(after["c/raised"].desired, 5);
    assert_eq!(after["c/leaver"].desired, 3);
    assert!(after.values().all(|st| !st.tags.contains_key("cost-saver:saved")));
}
