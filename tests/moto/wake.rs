//! `wake` through the AWS adapter against moto server: selection by service, cluster and tag,
//! refusals, and `reconcile` honouring the keep-alive until it ends.

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::fleet::ReadFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::summary::Reported;
use ecs_cost_saver::wake::{parse_wake, wake, WakeError, WakeReport};
use ecs_cost_saver::{Config, Invocation, Mode};
use serde_json::{json, Value};
use testkit::{Moto, Seeder};

const CLUSTERS: [&str; 3] = ["previews", "pr-7", "prod"];

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn wake_at(fleet: &AwsFleet, payload: Value, now: &str) -> Result<WakeReport, WakeError> {
    let config = Config::from_lookup(|_| None).unwrap();
    let request = parse_wake(&payload, at(now), &config).unwrap();
    wake(fleet, &config, &request, None).await
}

async fn reconcile(fleet: &AwsFleet, now: &str) {
    let config = Config::from_lookup(|_| None).unwrap();
    let inv = Invocation { mode: Mode::Reconcile, now: at(now), dry_run: false, force: false };
    let summary = run(fleet, &config, inv, None).await.unwrap();
    assert_eq!(summary.count(Reported::Failed), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wake_by_service_and_by_tag_then_reconcile_until_the_keep_alive_ends() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s = Seeder::new(&sdk);
    s.cluster("previews", &[("Environment", "preview")]).await;
    s.cluster("pr-7", &[("Environment", "preview"), ("preview-id", "pr-7")]).await;
    s.cluster("prod", &[("Environment", "prod")]).await;
    s.service("previews", "api", 3, &[]).await;
    s.autoscale("previews", "api", 1, 4, [false, true, false]).await;
    s.service("previews", "web", 2, &[]).await;
    s.service("pr-7", "web", 1, &[]).await;
    s.service("pr-7", "worker", 2, &[]).await;
    s.service("prod", "db", 2, &[("team", "payments")]).await;
    let fleet = AwsFleet::new(&sdk);
    let before = s.snapshot(&CLUSTERS).await;
    reconcile(&fleet, "2026-11-20T20:00:00Z").await;
    let asleep = s.snapshot(&CLUSTERS).await;
    assert!(["previews/api", "previews/web", "pr-7/web", "pr-7/worker"].iter().all(|k| asleep[*k].desired == 0));

    // One named service, at 22:00 for 3 hours.
    let report = wake_at(&fleet, json!({"cluster": "previews", "service": "api", "hours": 3}), "2026-11-20T22:00:00Z")
        .await
        .unwrap();
    assert_eq!(report.until, "2026-11-21T01:00:00Z");
    assert_eq!(report.summary.count(Reported::Restored), 1);
    let now = s.snapshot(&CLUSTERS).await;
    assert_eq!(now["previews/api"].desired, 3);
    assert_eq!(now["previews/api"].target, before["previews/api"].target, "bounds and suspension restored");
    assert_eq!(now["previews/api"].tags["cost-saver:keep-alive"], "2026-11-21T01:00:00Z");
    assert!(!now["previews/api"].tags.contains_key("cost-saver:saved"));
    assert_eq!(now["previews/web"].desired, 0, "only the named service");

    // Every service of the cluster tagged preview-id=pr-7, until 23:30.
    let report = wake_at(
        &fleet,
        json!({"tag": {"key": "preview-id", "value": "pr-7"}, "until": "2026-11-20T23:30:00Z"}),
        "2026-11-20T22:05:00Z",
    )
    .await
    .unwrap();
    assert_eq!(report.summary.count(Reported::Restored), 2);
    let now = s.snapshot(&CLUSTERS).await;
    assert_eq!((now["pr-7/web"].desired, now["pr-7/worker"].desired), (1, 2));

    // Refusals write nothing.
    let calls_before = fleet.calls();
    for (payload, kind) in [
        (json!({"cluster": "prod", "hours": 1}), "Protected"),
        (json!({"cluster": "gone", "hours": 1}), "NotFound"),
        (json!({"cluster": "previews", "service": "gone", "hours": 1}), "NotFound"),
        (json!({"tag": {"key": "preview-id", "value": "pr-404"}, "hours": 1}), "NotFound"),
    ] {
        let err = wake_at(&fleet, payload.clone(), "2026-11-20T22:10:00Z").await.unwrap_err();
        assert_eq!(err.kind().0, kind, "{payload}: {err}");
    }
    let writes =
        ["ecs:TagResource", "ecs:UntagResource", "ecs:UpdateService", "application-autoscaling:RegisterScalableTarget"];
    for op in writes {
        assert_eq!(fleet.calls().get(op), calls_before.get(op), "{op} after a refusal");
    }

    // reconcile keeps each awake until its keep-alive ends, then puts it back to sleep.
    reconcile(&fleet, "2026-11-20T23:15:00Z").await;
    let now = s.snapshot(&CLUSTERS).await;
    assert_eq!((now["previews/api"].desired, now["pr-7/web"].desired), (3, 1));
    reconcile(&fleet, "2026-11-20T23:30:00Z").await;
    let now = s.snapshot(&CLUSTERS).await;
    assert_eq!((now["previews/api"].desired, now["pr-7/web"].desired, now["pr-7/worker"].desired), (3, 0, 0));
    reconcile(&fleet, "2026-11-21T01:00:00Z").await;
    let now = s.snapshot(&CLUSTERS).await;
    assert_eq!(now["previews/api"].desired, 0);
    assert_eq!(now["previews/api"].target, Some((0, 0, [true, true, true])));
    assert!(now["previews/api"].tags["cost-saver:saved"].starts_with("desired=3 min=1 max=4 suspended=out "));

    // And Monday morning everything is back as it was, the expired keep-alives aside.
    reconcile(&fleet, "2026-11-23T08:00:00Z").await;
    let mut monday = s.snapshot(&CLUSTERS).await;
    for state in monday.values_mut() {
        state.tags.remove("cost-saver:keep-alive");
    }
    assert_eq!(monday, before);
}
