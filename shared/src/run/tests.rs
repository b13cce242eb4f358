use chrono::{DateTime, Utc};

use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::plan::Mode;

const SAVED: &str = "cost-saver:saved";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn inv(mode: Mode, now: &str) -> Invocation {
    Invocation { mode, now: at(now), dry_run: false, force: false }
}

const EVENING: &str = "2026-11-20T21:00:00Z";
const MORNING: &str = "2026-11-23T09:00:00Z";

fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("dev", &[("Environment", "dev")]);
    f.add_cluster("prod", &[("Environment", "prod")]);
    f.add_service(MemoryService::new("dev", "api", 3).autoscaled(Bounds {
        min: 1,
        max: 4,
        suspended: Suspension::NONE,
    }));
    f.add_service(MemoryService::new("dev", "web", 2));
    f.add_service(MemoryService::new("dev", "zero", 0));
    f.add_service(MemoryService::new("dev", "kept", 2).tag("cost-saver:keep-alive", "true"));
    f.add_service(MemoryService::new("prod", "db", 2));
    f
}

#[tokio::test]
async fn sleep_then_wake_restores_everything_exactly() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    let down = run(&f, &c, inv(Mode::ScaleDown, EVENING)).await.unwrap();
    assert_eq!(down.count("scaled_down"), 2);
    assert_eq!(down.count("failed"), 0);
    let api = f.service("dev", "api");
    assert_eq!((api.desired, api.scaling), (0, Some(Bounds::ASLEEP)));
    assert_eq!(api.tags[SAVED], "desired=3 min=1 max=4 suspended=none at=2026-11-20T21:00:00Z");
    assert_eq!(f.service("dev", "web").desired, 0);
    assert_eq!(f.service("dev", "zero").desired, 0);
    assert_eq!(f.service("dev", "kept").desired, 2);
    assert_eq!(f.service("prod", "db").desired, 2);
    // PRODUCT.md's order: saved first, then bounds, then desired.
    let log = f.log();
    assert!(log[0].starts_with("ecs:TagResource dev/api"), "{log:?}");
    assert!(log[1]
        .starts_with("application-autoscaling:RegisterScalableTarget dev/api min=0 max=0 suspended=in+out+scheduled"));
    assert!(log[2].starts_with("ecs:UpdateService dev/api desired=0"));

    let up = run(&f, &c, inv(Mode::ScaleUp, MORNING)).await.unwrap();
    assert_eq!(up.count("restored"), 2);
    let api = f.service("dev", "api");
    assert_eq!((api.desired, api.scaling), (3, Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE })));
    assert!(!api.tags.contains_key(SAVED));
    assert_eq!(f.service("dev", "web").desired, 2);
    assert_eq!(f.service("dev", "zero").desired, 0, "a team's zero is never raised");
    let log = f.log();
    assert!(log.last().unwrap().starts_with("ecs:UntagResource"), "saved is removed last: {log:?}");
}

#[tokio::test]
async fn second_run_and_dry_runs_write_nothing() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    let mut dry = inv(Mode::ScaleDown, EVENING);
    dry.dry_run = true;
    let plan_only = run(&f, &c, dry).await.unwrap();
    assert_eq!(plan_only.count("would_scale_down"), 2);
    assert_eq!(f.writes(), 0);

    run(&f, &c, inv(Mode::ScaleDown, EVENING)).await.unwrap();
    let writes = f.writes();
    let again = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T22:00:00Z")).await.unwrap();
    assert_eq!(f.writes(), writes, "second scale-down must not write: {:?}", again.services);
    assert_eq!(again.count("scaled_down") + again.count("kept_asleep"), 0);

    let mut dry_up = inv(Mode::ScaleUp, MORNING);
    dry_up.dry_run = true;
    assert_eq!(run(&f, &c, dry_up).await.unwrap().count("would_restore"), 2);
    assert_eq!(f.writes(), writes);
}

#[tokio::test]
async fn one_failure_does_not_stop_the_others_and_says_what_was_done() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    // Writes in id order: dev/api tag (1), bounds (2), desired (3); dev/web tag (4), desired (5).
    f.fail_write(2);
    let s = run(&f, &c, inv(Mode::ScaleDown, EVENING)).await.unwrap();
    assert_eq!(s.count("failed"), 1);
    assert_eq!(s.count("scaled_down"), 1);
    let failed = s.failures().next().unwrap();
    assert_eq!(failed.service, "api");
    assert_eq!(failed.error_code.as_deref(), Some("ThrottlingException"));
    assert_eq!(failed.steps.len(), 1);
    assert!(failed.steps[0].starts_with("saved `desired=3"), "{:?}", failed.steps);
    assert_eq!(f.service("dev", "web").desired, 0);
}

/// A run that dies after any write is finished by the next run, with nothing saved lost.
#[tokio::test]
async fn any_interrupted_transition_is_finished_by_the_next_run() {
    let c = Config::from_lookup(|_| None).unwrap();
    for k in 1..=5 {
        let f = fleet();
        f.fail_write(k);
        run(&f, &c, inv(Mode::ScaleDown, EVENING)).await.unwrap();
        run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:15:00Z")).await.unwrap();
        let api = f.service("dev", "api");
        assert_eq!((api.desired, api.scaling), (0, Some(Bounds::ASLEEP)), "k={k}");
        assert!(api.tags[SAVED].starts_with("desired=3 min=1 max=4 suspended=none"), "k={k}: {:?}", api.tags);
        assert_eq!(f.service("dev", "web").desired, 0, "k={k}");

        let writes_before = f.writes();
        f.fail_write(k);
        run(&f, &c, inv(Mode::ScaleUp, MORNING)).await.unwrap();
        run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T09:15:00Z")).await.unwrap();
        let api = f.service("dev", "api");
        assert_eq!(
            (api.desired, api.scaling),
            (3, Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE })),
            "k={k}"
        );
        assert!(!api.tags.contains_key(SAVED), "k={k}");
        assert_eq!(f.service("dev", "web").desired, 2, "k={k}");
        assert!(f.writes() > writes_before);
    }
}

#[tokio::test]
async fn a_manual_wake_at_night_is_undone_without_losing_saved() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    run(&f, &c, inv(Mode::ScaleDown, EVENING)).await.unwrap();
    let saved = f.service("dev", "api").tags[SAVED].clone();
    f.edit("dev", "api", |s| {
        s.scaling = Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE });
        s.desired = 4;
    });
    let s = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T23:00:00Z")).await.unwrap();
    assert_eq!(s.count("kept_asleep"), 1);
    let api = f.service("dev", "api");
    assert_eq!((api.desired, api.scaling, api.tags[SAVED].clone()), (0, Some(Bounds::ASLEEP), saved));
}

#[tokio::test]
async fn summary_json_has_the_documented_shape() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    let s = run(&f, &c, inv(Mode::ScaleDown, EVENING)).await.unwrap();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["mode"], "scale-down");
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["now"], "2026-11-20T21:00:00Z");
    assert_eq!(json["counts"]["scaled_down"], 2);
    assert_eq!(json["aws_calls"]["ecs:UpdateService"], 2);
    // The same fleet serving a second run (a warm Lambda) reports that run's calls only.
    let second = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T22:00:00Z")).await.unwrap();
    assert_eq!(second.aws_calls, [("memory:Observe".to_string(), 1)].into_iter().collect());
    let api = json["services"].as_array().unwrap().iter().find(|e| e["service"] == "api").unwrap();
    assert_eq!(api["action"], "scaled_down");
    assert_eq!(api["from"], serde_json::json!({"desired": 3, "min": 1, "max": 4, "suspended": "none"}));
    assert_eq!(api["to"], serde_json::json!({"desired": 0, "min": 0, "max": 0, "suspended": "in+out+scheduled"}));
    assert!(api["arn"].as_str().unwrap().ends_with(":service/dev/api"));
    assert!(api["reason"].as_str().unwrap().contains("asleep"));
}
