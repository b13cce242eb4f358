//! Throttling, 5xx and dropped connections injected between the SDK and moto server: a
//! 200-service fleet still ends fully asleep and fully restored, and the summary's retry counts
//! match the faults injected.

use ecs_cost_saver::summary::Reported;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::{retry_config, AwsFleet, WRITE_OPERATIONS};
use ecs_cost_saver::run::run;
use ecs_cost_saver::{Config, Invocation, Mode, Summary};
use testkit::fault_proxy::{Call, Fault, FaultProxy};
use testkit::{sdk_config_at, Moto, Seeder};

const CLUSTERS: [&str; 4] = ["dev-0", "dev-1", "dev-2", "dev-3"];

fn inv(mode: Mode, now: &str) -> Invocation {
    let now = DateTime::parse_from_rfc3339(now).unwrap().with_timezone(&Utc);
    Invocation { mode, now, dry_run: false, force: false }
}

/// Services whose `UpdateService` is throttled on every attempt of its first call: past every
/// SDK retry, so only the run's second pass gets them through.
const THROTTLED_PAST_RETRIES: [(&str, &str); 2] = [("dev-1", "svc-07"), ("dev-3", "svc-23")];

/// 30% of every write operation's calls, chosen by what they ask (never by arrival order, which
/// concurrent writers shuffle), throttled on their first attempt only, so each retry gets
/// through; two services' desired-count writes throttled past every retry; plus a throttled
/// discovery page, a 503 on a describe and a dropped connection on a write.
fn faults(call: &Call) -> Option<Fault> {
    let past_retries = THROTTLED_PAST_RETRIES.iter().any(|(cluster, service)| {
        call.body.contains(&format!(r#""cluster":"{cluster}""#))
            && call.body.contains(&format!(r#""service":"{service}""#))
    });
    if call.operation == "ecs:UpdateService" && past_retries && call.sent == 1 {
        return Some(Fault::Throttle);
    }
    if WRITE_OPERATIONS.contains(&call.operation) && call.attempt == 1 && call.key % 100 < 30 {
        return Some(Fault::Throttle);
    }
    match (call.operation, call.n) {
        ("tagging:GetResources", 1) => Some(Fault::Throttle),
        ("ecs:DescribeServices", 2) => Some(Fault::Status(503)),
        ("ecs:UpdateService", 12) => Some(Fault::Drop),
        ("application-autoscaling:DescribeScalableTargets", 1) => Some(Fault::Delay(Duration::from_millis(300))),
        _ => None,
    }
}

/// Every injected fault was retried once and shows in the summary, except the last attempt of
/// each call that ran out of attempts (`gave_up` per operation).
fn assert_retries_match(
    summary: &Summary,
    injected: &BTreeMap<String, u32>,
    before: &BTreeMap<String, u32>,
    gave_up: &[(&str, u32)],
) {
    let this_run: BTreeMap<String, u32> = injected
        .iter()
        .map(|(op, n)| {
            let last_attempts = gave_up.iter().filter(|(o, _)| o == op).map(|(_, k)| k).sum::<u32>();
            (op.clone(), n - before.get(op).copied().unwrap_or(0) - last_attempts)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(!this_run.is_empty());
    assert_eq!(summary.aws_retries, this_run, "every injected fault was retried once, and shows in the summary");
}

/// The two services throttled past every retry were finished by the run's second pass.
fn assert_second_passes(summary: &Summary) {
    assert_eq!(summary.second_passes, 2, "{:#?}", summary.services.iter().filter(|s| !s.steps.is_empty()).count());
    for (cluster, name) in THROTTLED_PAST_RETRIES {
        let report = summary.services.iter().find(|r| r.service == name && r.cluster == cluster).unwrap();
        assert!(
            report
                .steps
                .iter()
                .any(|step| step == "second pass after: ecs:UpdateService failed (ThrottlingException): Rate exceeded"),
            "{cluster}/{name}: {:?}",
            report.steps
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_fleet_still_sleeps_and_wakes_completely() {
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.sdk_config().await);
    for (c, cluster) in CLUSTERS.iter().enumerate() {
        seeder.cluster(cluster, &[("Environment", "dev")]).await;
        for i in 0..50 {
            let name = format!("svc-{i:02}");
            seeder.service(cluster, &name, (i % 4 + 1) as i32, &[]).await;
            if (c * 50 + i) % 5 == 0 {
                seeder.autoscale(cluster, &name, 1, 6, [false, i % 2 == 0, false]).await;
            }
        }
    }
    let before = seeder.snapshot(&CLUSTERS).await;
    assert_eq!(before.len(), 200);

    let proxy = FaultProxy::start(moto.port, Arc::new(faults)).await;
    // Production retry settings, with short backoffs so the test is quick.
    let retry =
        retry_config().with_initial_backoff(Duration::from_millis(5)).with_max_backoff(Duration::from_millis(50));
    let fleet = AwsFleet::new(&sdk_config_at(&proxy.endpoint, retry).await);
    let config = Config::from_lookup(|_| None).unwrap();

    let down = run(&fleet, &config, inv(Mode::ScaleDown, "2026-11-20T20:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::Failed), 0, "{:#?}", down.failures().collect::<Vec<_>>());
    assert_eq!(down.count(Reported::ScaledDown), 200);
    let after_down = proxy.injected();
    // About 30% of 200 desired-count writes, plus 5 attempts for each of the two past retries.
    assert!(after_down["ecs:UpdateService"] >= 50, "{after_down:?}");
    assert_retries_match(&down, &after_down, &BTreeMap::new(), &[("ecs:UpdateService", 2)]);
    assert_second_passes(&down);
    let asleep = seeder.snapshot(&CLUSTERS).await;
    assert!(asleep.values().all(|s| s.desired == 0 && s.tags.contains_key("cost-saver:saved")));

    let up = run(&fleet, &config, inv(Mode::ScaleUp, "2026-11-23T08:00:00Z"), None).await.unwrap();
    assert_eq!(up.count(Reported::Failed), 0, "{:#?}", up.failures().collect::<Vec<_>>());
    assert_eq!(up.count(Reported::Restored), 200);
    assert_retries_match(&up, &proxy.injected(), &after_down, &[("ecs:UpdateService", 2)]);
    assert_second_passes(&up);
    assert_eq!(seeder.snapshot(&CLUSTERS).await, before, "every count, bound and flag restored exactly");
    println!("faults injected over both transitions: {:?}", proxy.injected());
}

/// Issue 9, item 9: a hung endpoint must not hang the function until Lambda kills it without a
/// summary. Every call has a time limit: a hung write fails its service (after `saved` was
/// written, so nothing is lost), a hung discovery fails the run, and either way the run ends.
#[tokio::test(flavor = "multi_thread")]
async fn issue9_item9_a_hung_endpoint_ends_the_run_with_its_summary() {
    use ecs_cost_saver::aws::Timeouts;
    assert_eq!(
        Timeouts::default(),
        Timeouts {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(20)
        },
        "the README documents these values"
    );
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.sdk_config().await);
    seeder.cluster("dev-0", &[("Environment", "dev")]).await;
    for name in ["a", "b", "c"] {
        seeder.service("dev-0", name, 2, &[]).await;
    }
    let config = Config::from_lookup(|_| None).unwrap();
    let short = Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(3),
    };
    let hang = Duration::from_secs(3_600);

    let hung_writes = FaultProxy::start(
        moto.port,
        Arc::new(move |call: &Call| (call.operation == "ecs:UpdateService").then_some(Fault::Delay(hang))),
    )
    .await;
    let fleet = AwsFleet::with_timeouts(&sdk_config_at(&hung_writes.endpoint, retry_config()).await, short);
    let down = tokio::time::timeout(
        Duration::from_secs(120),
        run(&fleet, &config, inv(Mode::ScaleDown, "2026-11-20T20:00:00Z"), None),
    )
    .await
    .expect("the run ends although UpdateService never answers")
    .unwrap();
    assert_eq!(down.count(Reported::Failed), 3, "{:#?}", down.services);
    // A timeout is worth a second pass; the endpoint still hangs, so the pass ends the same way.
    assert_eq!(down.second_passes, 3);
    for failed in down.failures() {
        let error = failed.error.as_deref().unwrap_or_default().to_lowercase();
        assert!(error.contains("ecs:updateservice") && error.contains("timeout"), "{error}");
        assert_eq!(failed.steps.len(), 2, "saved first, then the hung write, twice: {:?}", failed.steps);
        assert!(failed.steps[0].starts_with("saved `desired=2 "), "{:?}", failed.steps);
        assert!(failed.steps[1].starts_with("second pass after: ecs:UpdateService failed"), "{:?}", failed.steps);
    }
    let state = seeder.snapshot(&["dev-0"]).await;
    assert!(state.values().all(|s| s.tags["cost-saver:saved"].starts_with("desired=2 ")), "{state:?}");

    let hung_discovery = FaultProxy::start(moto.port, Arc::new(move |_: &Call| Some(Fault::Delay(hang)))).await;
    let fleet = AwsFleet::with_timeouts(&sdk_config_at(&hung_discovery.endpoint, retry_config()).await, short);
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        run(&fleet, &config, inv(Mode::Reconcile, "2026-11-20T20:00:00Z"), None),
    )
    .await
    .expect("discovery ends although nothing answers")
    .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("timeout"), "{err}");
}
