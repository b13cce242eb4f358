use chrono::{DateTime, Utc};

use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::plan::Mode;
use crate::summary::Reported;

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

/// After an interrupted restore and the run that finished it: both services exactly as before.
fn assert_restored(f: &MemoryFleet, k: u32) {
    let api = f.service("dev", "api");
    assert_eq!((api.desired, api.scaling), (3, Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE })), "k={k}");
    assert!(!api.tags.contains_key(SAVED), "k={k}");
    assert_eq!(f.service("dev", "web").desired, 2, "k={k}");
}

#[tokio::test]
async fn sleep_then_wake_restores_everything_exactly() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    let down = run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 2);
    assert_eq!(down.count(Reported::Failed), 0);
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

    let up = run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap();
    assert_eq!(up.count(Reported::Restored), 2);
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
    let plan_only = run(&f, &c, dry, None).await.unwrap();
    assert_eq!(plan_only.count(Reported::WouldScaleDown), 2);
    assert_eq!(f.writes(), 0);

    run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    let writes = f.writes();
    let again = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T22:00:00Z"), None).await.unwrap();
    assert_eq!(f.writes(), writes, "second scale-down must not write: {:?}", again.services);
    assert_eq!(again.count(Reported::ScaledDown) + again.count(Reported::KeptAsleep), 0);

    let mut dry_up = inv(Mode::ScaleUp, MORNING);
    dry_up.dry_run = true;
    assert_eq!(run(&f, &c, dry_up, None).await.unwrap().count(Reported::WouldRestore), 2);
    assert_eq!(f.writes(), writes);
}

#[tokio::test]
async fn one_failure_does_not_stop_the_others_and_says_what_was_done() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    // Writes in id order: dev/api tag (1), bounds (2), desired (3); dev/web tag (4), desired (5).
    f.fail_write(2);
    let s = run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    assert_eq!(s.count(Reported::Failed), 1);
    assert_eq!(s.count(Reported::ScaledDown), 1);
    let failed = s.failures().next().unwrap();
    assert_eq!(failed.service, "api");
    assert_eq!(failed.error_code.as_deref(), Some("AccessDeniedException"));
    assert_eq!(failed.steps.len(), 1, "not retryable: no second pass");
    assert_eq!(s.second_passes, 0);
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
        run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:15:00Z"), None).await.unwrap();
        let api = f.service("dev", "api");
        assert_eq!((api.desired, api.scaling), (0, Some(Bounds::ASLEEP)), "k={k}");
        assert!(api.tags[SAVED].starts_with("desired=3 min=1 max=4 suspended=none"), "k={k}: {:?}", api.tags);
        assert_eq!(f.service("dev", "web").desired, 0, "k={k}");

        let writes_before = f.writes();
        f.fail_write(k);
        run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap();
        run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T09:15:00Z"), None).await.unwrap();
        assert_restored(&f, k);
        assert!(f.writes() > writes_before);
    }
}

#[tokio::test]
async fn a_manual_wake_at_night_is_undone_without_losing_saved() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    let saved = f.service("dev", "api").tags[SAVED].clone();
    f.edit("dev", "api", |s| {
        s.scaling = Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE });
        s.desired = 4;
    });
    let s = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T23:00:00Z"), None).await.unwrap();
    assert_eq!(s.count(Reported::KeptAsleep), 1);
    let api = f.service("dev", "api");
    assert_eq!((api.desired, api.scaling, api.tags[SAVED].clone()), (0, Some(Bounds::ASLEEP), saved));
}

#[tokio::test]
async fn summary_json_has_the_documented_shape() {
    let f = fleet();
    let c = Config::from_lookup(|_| None).unwrap();
    let s = run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["mode"], "scale-down");
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["now"], "2026-11-20T21:00:00Z");
    assert_eq!(json["counts"]["scaled_down"], 2);
    assert_eq!(json["aws_calls"]["ecs:UpdateService"], 2);
    // The same fleet serving a second run (a warm Lambda) reports that run's calls only.
    let second = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T22:00:00Z"), None).await.unwrap();
    // Nothing to change, so no writes; the sleeping api's target is read (someone may have
    // raised its min), and no task definition: these services name none.
    let reads = [("memory:Observe".to_string(), 1), ("memory:ScalableTargets".to_string(), 1)];
    assert_eq!(second.aws_calls, reads.into_iter().collect());
    assert_eq!(json["savings"]["asleep_services"], 2);
    assert_eq!(json["savings"]["not_estimated"], 2, "no task definition, no price");
    let api = json["services"].as_array().unwrap().iter().find(|e| e["service"] == "api").unwrap();
    assert_eq!(api["action"], "scaled_down");
    assert_eq!(api["from"], serde_json::json!({"desired": 3, "min": 1, "max": 4, "suspended": "none"}));
    assert_eq!(api["to"], serde_json::json!({"desired": 0, "min": 0, "max": 0, "suspended": "in+out+scheduled"}));
    assert!(api["arn"].as_str().unwrap().ends_with(":service/dev/api"));
    assert!(api["reason"].as_str().unwrap().contains("asleep"));
}

mod reconcile {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|_| None).unwrap()
    }

    /// A reconcile tick after a run that died after its k-th write finishes the job, both ways.
    #[tokio::test]
    async fn finishes_a_transition_interrupted_after_any_write() {
        let c = config();
        for k in 1..=5 {
            let f = fleet();
            f.fail_write(k);
            run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
            let s = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
            assert_eq!(s.count(Reported::Failed), 0, "k={k}");
            let api = f.service("dev", "api");
            assert_eq!((api.desired, api.scaling), (0, Some(Bounds::ASLEEP)), "k={k}");
            // Saved by the first run, or by the tick when the very first write was the one that failed.
            assert!(api.tags[SAVED].starts_with("desired=3 min=1 max=4 suspended=none at=2026-11-20T21:"), "k={k}");
            assert_eq!(f.service("dev", "web").desired, 0, "k={k}");

            f.fail_write(k);
            run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap();
            run(&f, &c, inv(Mode::Reconcile, "2026-11-23T09:15:00Z"), None).await.unwrap();
            assert_restored(&f, k);
        }
    }

    #[tokio::test]
    async fn writes_nothing_when_everything_is_where_it_should_be() {
        let (f, c) = (fleet(), config());
        run(&f, &c, inv(Mode::Reconcile, "2026-11-20T15:00:00Z"), None).await.unwrap();
        assert_eq!(f.writes(), 0, "awake in working hours: nothing to do");
        run(&f, &c, inv(Mode::Reconcile, EVENING), None).await.unwrap();
        let after_sleep = f.writes();
        assert_eq!(after_sleep, 3 + 2, "api: saved, bounds, desired; web: saved, desired");
        for tick in ["2026-11-20T21:15:00Z", "2026-11-21T12:00:00Z", "2026-11-23T07:45:00Z"] {
            run(&f, &c, inv(Mode::Reconcile, tick), None).await.unwrap();
            assert_eq!(f.writes(), after_sleep, "{tick}");
        }
        run(&f, &c, inv(Mode::Reconcile, "2026-11-23T08:00:00Z"), None).await.unwrap();
        let after_wake = f.writes();
        run(&f, &c, inv(Mode::Reconcile, "2026-11-23T08:15:00Z"), None).await.unwrap();
        assert_eq!(f.writes(), after_wake);
        assert_eq!(f.service("dev", "api").desired, 3);
    }

    /// The cron and a reconcile tick at the same minute, in either order, agree: the second
    /// finds nothing to do.
    #[tokio::test]
    async fn cron_and_reconcile_in_the_same_minute_do_not_fight() {
        let c = config();
        for (first, second, at) in [
            (Mode::ScaleDown, Mode::Reconcile, "2026-11-20T20:00:00Z"),
            (Mode::Reconcile, Mode::ScaleDown, "2026-11-20T20:00:00Z"),
            (Mode::ScaleUp, Mode::Reconcile, "2026-11-23T08:00:00Z"),
            (Mode::Reconcile, Mode::ScaleUp, "2026-11-23T08:00:00Z"),
        ] {
            let f = fleet();
            if first == Mode::ScaleUp || second == Mode::ScaleUp {
                run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
            }
            run(&f, &c, inv(first, at), None).await.unwrap();
            let writes = f.writes();
            let s = run(&f, &c, inv(second, at), None).await.unwrap();
            assert_eq!(f.writes(), writes, "{first:?} then {second:?}: {:?}", s.services);
            for service in ["api", "web"] {
                let saves =
                    f.log().iter().filter(|l| l.starts_with(&format!("ecs:TagResource dev/{service} "))).count();
                assert_eq!(saves, 1, "{first:?} then {second:?}: saved state of {service} written once");
            }
        }
    }

    #[tokio::test]
    async fn follows_keep_alives_that_expire_or_appear_at_night() {
        let (f, c) = (fleet(), config());
        f.edit("dev", "web", |s| {
            s.tags.insert("cost-saver:keep-alive".into(), "2026-11-20T23:00:00Z".into());
        });
        run(&f, &c, inv(Mode::Reconcile, EVENING), None).await.unwrap();
        assert_eq!(f.service("dev", "web").desired, 2, "kept alive until 23:00");
        run(&f, &c, inv(Mode::Reconcile, "2026-11-20T22:45:00Z"), None).await.unwrap();
        assert_eq!(f.service("dev", "web").desired, 2);
        run(&f, &c, inv(Mode::Reconcile, "2026-11-20T23:00:00Z"), None).await.unwrap();
        assert_eq!(f.service("dev", "web").desired, 0, "asleep once the keep-alive expired");

        // An engineer tags a sleeping service at night: the next tick wakes it.
        f.edit("dev", "api", |s| {
            s.tags.insert("cost-saver:keep-alive".into(), "2026-11-21T02:00".into());
        });
        run(&f, &c, inv(Mode::Reconcile, "2026-11-20T23:15:00Z"), None).await.unwrap();
        let api = f.service("dev", "api");
        assert_eq!((api.desired, api.scaling), (3, Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE })));
        run(&f, &c, inv(Mode::Reconcile, "2026-11-21T02:00:00Z"), None).await.unwrap();
        let api = f.service("dev", "api");
        assert_eq!(api.desired, 0);
        assert!(api.tags[SAVED].starts_with("desired=3 min=1 max=4"), "saved again from the restored state");
    }

    #[tokio::test]
    async fn undoes_a_manual_wake_without_keep_alive() {
        let (f, c) = (fleet(), config());
        run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        let saved = f.service("dev", "web").tags[SAVED].clone();
        f.edit("dev", "web", |s| s.desired = 5);
        let s = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T23:00:00Z"), None).await.unwrap();
        assert_eq!(s.count(Reported::KeptAsleep), 1);
        assert_eq!(f.service("dev", "web").desired, 0);
        assert_eq!(f.service("dev", "web").tags[SAVED], saved);
    }
}

mod limits {
    use super::*;

    #[tokio::test]
    async fn a_run_past_its_deadline_starts_nothing_and_says_so() {
        let (f, c) = (fleet(), Config::from_lookup(|_| None).unwrap());
        let s = run(&f, &c, inv(Mode::ScaleDown, EVENING), Some(std::time::Instant::now())).await.unwrap();
        assert_eq!(s.count(Reported::NotReached), 2, "{:?}", s.services);
        assert_eq!(s.failures().count(), 2);
        assert_eq!(f.writes(), 0);
        // The next run does the work.
        let s = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
        assert_eq!(s.count(Reported::ScaledDown), 2);
    }

    #[tokio::test]
    async fn concurrency_keeps_the_plan_order_and_every_outcome() {
        let f = MemoryFleet::new();
        f.add_cluster("dev", &[("Environment", "dev")]);
        for i in 0..40 {
            f.add_service(MemoryService::new("dev", &format!("svc-{i:02}"), 1 + i % 3));
        }
        let c = Config::from_lookup(|k| (k == "WRITE_CONCURRENCY").then(|| "16".to_string())).unwrap();
        let s = run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        assert_eq!(s.count(Reported::ScaledDown), 40);
        let names: Vec<&str> = s.services.iter().map(|e| e.service.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}

mod overlap {
    use super::*;
    use crate::apply::apply;
    use crate::fleet::ReadFleet;
    use crate::plan::plan;

    /// A keep-asleep planned from a read taken before another run restored the service is not
    /// carried out: the service stays awake instead of asleep with nothing saved.
    #[tokio::test]
    async fn a_stale_keep_asleep_does_not_undo_a_restore() {
        let (f, c) = (fleet(), Config::from_lookup(|_| None).unwrap());
        f.interleave_calls();
        run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        f.edit("dev", "web", |s| s.desired = 2); // woken by hand: reconcile will want to undo it
        let stale = f.observe(&fleet_query(&c, &inv(Mode::Reconcile, "2026-11-20T23:00:00Z"))).await.unwrap();
        let p = plan(&stale.services, &c, inv(Mode::Reconcile, "2026-11-20T23:00:00Z"));
        assert!(p
            .entries
            .iter()
            .any(|e| e.id.name == "web" && matches!(e.action, crate::plan::Action::KeepAsleep { .. })));

        // Meanwhile a wake restores it.
        f.edit("dev", "web", |s| {
            s.tags.remove(SAVED);
        });
        let outcomes = apply(&p, &f, SAVED, None, &crate::pacing::Limits::for_run(&c, None)).await;
        let web = outcomes.iter().find(|o| o.entry.id.name == "web").unwrap();
        assert!(web.entry.reason.contains("changed by another run"), "{web:?}");
        assert_eq!(f.service("dev", "web").desired, 2, "left awake, not zeroed without saved state");
    }

    /// The ordering a check before writing cannot catch: a keep-asleep that checked before the
    /// restore removed `saved`, zeroing the service after it. The restore's re-read repairs it.
    #[tokio::test]
    async fn a_zeroing_after_the_restore_finished_gets_saved_state_back() {
        let c = Config::from_lookup(|_| None).unwrap();
        let f = fleet();
        run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        let saved = f.service("dev", "web").tags[SAVED].clone();
        f.interleave_calls();
        let restore = async { run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap() };
        let late_zeroing = async {
            while !f.log().iter().any(|l| l.starts_with("ecs:UntagResource dev/web")) {
                tokio::task::yield_now().await;
            }
            f.edit("dev", "web", |s| s.desired = 0);
        };
        let (summary, ()) = tokio::join!(restore, late_zeroing);
        let web = f.service("dev", "web");
        assert_eq!((web.desired, web.tags.get(SAVED)), (0, Some(&saved)), "{:?}", summary.services);
        // And the next scale-up restores it for good.
        run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T08:15:00Z"), None).await.unwrap();
        assert_eq!(f.service("dev", "web").desired, 2);
    }

    /// Opposite runs overlapping at every possible write boundary never lose saved state: any
    /// service at zero that was not zero before carries its original saved counts.
    #[tokio::test]
    async fn overlapping_opposite_runs_never_lose_saved_state() {
        let c = Config::from_lookup(|k| (k == "WRITE_CONCURRENCY").then(|| "1".to_string())).unwrap();
        for head_start in 0..24 {
            let f = fleet();
            run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
            f.interleave_calls();
            let up = async { run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap() };
            let down = async {
                for _ in 0..head_start {
                    tokio::task::yield_now().await;
                }
                let mut forced = inv(Mode::ScaleDown, MORNING);
                forced.force = true;
                run(&f, &c, forced, None).await.unwrap()
            };
            tokio::join!(up, down);
            for (name, original, bounds) in [("api", 3, Some((1, 4))), ("web", 2, None)] {
                let s = f.service("dev", name);
                match s.tags.get(SAVED) {
                    Some(v) => {
                        let saved = crate::saved::SavedState::parse(v).unwrap();
                        assert_eq!(saved.desired, original, "head start {head_start}: {name} saved {v}");
                        assert_eq!(saved.bounds.map(|b| (b.min, b.max)), bounds, "head start {head_start}: {name}");
                    }
                    None => assert_eq!(
                        s.desired, original,
                        "head start {head_start}: {name} at {} without saved",
                        s.desired
                    ),
                }
            }
        }
    }
}

/// Throttled past every SDK retry: one more pass at the end of the run finishes the change from
/// where it stopped, never rewriting `saved`, and the summary counts the pass.
#[tokio::test]
async fn a_write_throttled_past_its_retries_gets_a_second_pass_that_finishes_it() {
    let c = Config::from_lookup(|_| None).unwrap();
    // Writes in id order: dev/api tag (1), bounds (2), desired (3); dev/web tag (4), desired (5).
    for (k, service, tags) in [(1, "api", 1), (2, "api", 1), (3, "api", 1), (4, "web", 1), (5, "web", 1)] {
        let f = fleet();
        f.throttle_write(k);
        let s = run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        assert_eq!(s.count(Reported::Failed), 0, "k={k}: {:?}", s.services);
        assert_eq!(s.count(Reported::ScaledDown), 2, "k={k}");
        assert_eq!(s.second_passes, 1, "k={k}");
        let report = s.services.iter().find(|r| r.service == service).unwrap();
        assert!(report.steps.iter().any(|step| step.starts_with("second pass after: ")), "k={k}: {:?}", report.steps);
        let api = f.service("dev", "api");
        assert_eq!((api.desired, api.scaling), (0, Some(Bounds::ASLEEP)), "k={k}");
        assert_eq!(api.tags[SAVED], "desired=3 min=1 max=4 suspended=none at=2026-11-20T21:00:00Z", "k={k}");
        assert_eq!(f.service("dev", "web").desired, 0, "k={k}");
        let tagged = f.log().iter().filter(|l| l.starts_with("ecs:TagResource") && l.contains(service)).count();
        assert_eq!(tagged, tags, "k={k}: saved written once: {:?}", f.log());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["second_passes"], 1, "k={k}");

        // And back exactly, throttled once more on the way.
        f.throttle_write(1);
        let up = run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap();
        assert_eq!(
            (up.count(Reported::Restored), up.count(Reported::Failed), up.second_passes),
            (2, 0, 1),
            "k={k}: {:?}",
            up.services
        );
        assert_restored(&f, k);
    }
}

/// The second pass is skipped when the deadline leaves no room for it: the failure stands (the
/// invocation fails, the next run finishes it).
#[tokio::test]
async fn no_second_pass_without_time_before_the_deadline() {
    let c = Config::from_lookup(|_| None).unwrap();
    let f = fleet();
    f.throttle_write(4);
    let soon = std::time::Instant::now() + std::time::Duration::from_millis(1_500);
    let s = run(&f, &c, inv(Mode::ScaleDown, EVENING), Some(soon)).await.unwrap();
    assert_eq!(
        (s.count(Reported::Failed), s.count(Reported::ScaledDown), s.second_passes),
        (1, 1, 0),
        "{:?}",
        s.services
    );
    assert_eq!(s.failures().next().unwrap().error_code.as_deref(), Some("ThrottlingException"));
}
