//! The built functions, served by `cargo lambda watch` and invoked with `cargo lambda invoke`
//! and the files in `events/`, against moto server.

mod support;

use serde_json::Value;
use support::{build_functions, event_file, seed_demo_fleet, LambdaWatch, Moto, Seeder, DEMO_CLUSTERS};

const ASLEEP_AFTER_FRIDAY: [&str; 4] =
    ["previews/pr-101-web", "previews/pr-101-api", "dev-tools/grafana", "dev-tools/search"];

fn count(summary: &Value, action: &str) -> u64 {
    summary["counts"][action].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_sleep_and_wake_the_demo_fleet_through_cargo_lambda() {
    build_functions();
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    seed_demo_fleet(&seeder).await;
    let before = seeder.snapshot(&DEMO_CLUSTERS).await;
    let watch = LambdaWatch::start(&moto.env());

    let plan = watch.invoke_file("scale-down", &event_file("what-if-friday-20h.json")).unwrap();
    assert_eq!(plan["mode"], "scale-down");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["now"], "2026-11-20T20:00:00Z");
    assert_eq!(count(&plan, "would_scale_down"), 4, "{plan:#}");
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before, "a dry run changes nothing");

    let down = watch.invoke_file("scale-down", &event_file("friday-evening.json")).unwrap();
    assert_eq!(count(&down, "scaled_down"), 4, "{down:#}");
    assert_eq!(count(&down, "failed"), 0);
    assert_eq!(down["aws_calls"]["ecs:UpdateService"], 4, "{down:#}");
    assert_eq!(down["aws_calls"]["ecs:TagResource"], 4);
    assert_eq!(down["aws_calls"]["application-autoscaling:RegisterScalableTarget"], 2);
    let asleep = seeder.snapshot(&DEMO_CLUSTERS).await;
    for (key, state) in &asleep {
        if ASLEEP_AFTER_FRIDAY.contains(&key.as_str()) {
            assert_eq!(state.desired, 0, "{key}");
            assert!(state.tags["cost-saver:saved"].ends_with("at=2026-11-20T20:00:00Z"), "{key}: {:?}", state.tags);
        } else {
            assert_eq!(state, &before[key], "{key} must be untouched");
        }
    }
    assert_eq!(
        asleep["dev-tools/search"].tags["cost-saver:saved"],
        "desired=4 min=2 max=8 suspended=scheduled at=2026-11-20T20:00:00Z"
    );
    assert_eq!(asleep["dev-tools/search"].target, Some((0, 0, [true, true, true])));

    // The classic envelope runs on the real clock: whatever the time, nothing may fail.
    let envelope = watch.invoke_file("scale-down", &event_file("scheduled-event.json")).unwrap();
    assert_eq!(envelope["mode"], "scale-down");
    assert_eq!(count(&envelope, "failed"), 0);

    let up = watch.invoke_file("scale-up", &event_file("monday-morning.json")).unwrap();
    assert_eq!(up["mode"], "scale-up");
    assert_eq!(count(&up, "restored"), 4, "{up:#}");
    assert_eq!(up["aws_calls"]["ecs:UntagResource"], 4, "calls are per invocation: {up:#}");
    assert_eq!(up["aws_calls"]["ecs:UpdateService"], 4);
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before, "everything back exactly as it was");

    let dry = watch.invoke_file("scale-up", &event_file("dry-run.json")).unwrap();
    assert_eq!(dry["dry_run"], true);
    let idle = watch.invoke_file("scale-up", &event_file("scheduler-input.json")).unwrap();
    assert_eq!(count(&idle, "restored"), 0, "nothing left to restore");

    let forced = watch.invoke_file("scale-down", &event_file("force-dry-run.json")).unwrap();
    // On the real clock the fresh demo services are in their grace period; force still ignores
    // every schedule, and keep-alive and protection still hold.
    assert_eq!(forced["force"], true);
    for s in forced["services"].as_array().unwrap() {
        let reason = s["reason"].as_str().unwrap();
        assert!(!reason.contains("says awake"), "force must ignore schedules: {s}");
        if s["service"] == "pr-102-web" {
            assert!(reason.contains("keep-alive"), "{s}");
        }
    }

    let refused = watch.invoke_file("scale-up", &event_file("force.json")).unwrap_err();
    assert!(refused.contains("only accepted by scale-down"), "{refused}");
    let typo = watch.invoke_ascii("scale-down", r#"{"dryrun": true}"#).unwrap_err();
    assert!(typo.contains("unknown field `dryrun`"), "{typo}");
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before);
}

fn writes(summary: &Value) -> u64 {
    ["ecs:TagResource", "ecs:UntagResource", "ecs:UpdateService", "application-autoscaling:RegisterScalableTarget"]
        .iter()
        .map(|op| summary["aws_calls"][op].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_and_wake_through_cargo_lambda() {
    build_functions();
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    seed_demo_fleet(&seeder).await;
    let watch = LambdaWatch::start(&moto.env());

    let evening = watch.invoke_file("reconcile", &event_file("friday-evening.json")).unwrap();
    assert_eq!(evening["mode"], "reconcile");
    assert_eq!(count(&evening, "scaled_down"), 4, "{evening:#}");
    let quiet = watch.invoke_file("reconcile", &event_file("friday-night.json")).unwrap();
    assert_eq!(writes(&quiet), 0, "nothing to do an hour later: {quiet:#}");

    // Wake the pr-101 preview for 4 hours: measured from the real clock, whatever the what-if
    // times of the other events.
    let before = chrono::Utc::now();
    let woken = watch.invoke_file("wake", &event_file("wake-by-tag.json")).unwrap();
    assert_eq!(woken["mode"], "wake");
    let until = chrono::DateTime::parse_from_rfc3339(woken["until"].as_str().unwrap()).unwrap();
    let minutes = (until.with_timezone(&chrono::Utc) - before).num_minutes();
    assert!((239..=241).contains(&minutes), "until {until} is 4 hours from the real clock");
    assert_eq!(count(&woken, "restored"), 2, "{woken:#}");
    let state = seeder.snapshot(&DEMO_CLUSTERS).await;
    assert_eq!((state["previews/pr-101-web"].desired, state["previews/pr-101-api"].desired), (2, 3));
    assert_eq!(state["previews/pr-101-api"].target, Some((2, 6, [false, false, false])));
    assert_eq!(state["previews/pr-101-web"].tags["cost-saver:keep-alive"], woken["until"].as_str().unwrap());
    assert_eq!(state["dev-tools/grafana"].desired, 0, "not matched, still asleep");

    // reconcile at 23:00 keeps them awake.
    let night = watch.invoke_file("reconcile", &event_file("friday-night.json")).unwrap();
    assert_eq!(writes(&night), 0, "{night:#}");

    let dry = watch.invoke_file("wake", &event_file("wake-dry-run.json")).unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(writes(&dry), 0);

    let refused = watch.invoke_ascii("wake", r#"{"cluster": "payments-prod", "hours": 1}"#).unwrap_err();
    assert!(refused.contains("protected"), "{refused}");
    let unknown = watch.invoke_ascii("wake", r#"{"cluster": "previews", "service": "nope", "hours": 1}"#).unwrap_err();
    assert!(unknown.contains("not found: service nope in cluster previews"), "{unknown}");
}
