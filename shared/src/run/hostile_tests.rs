//! Issue 9: what a hostile review found. Two runs at once, absurd `now`s and absurd saved counts
//! must never lose a service's saved state, touch production, or loop.

use chrono::{DateTime, Utc};

use super::*;
use crate::apply::apply;
use crate::fleet::Selector;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::plan::{plan, Action, Mode};
use crate::summary::Reported;
use crate::wake::{wake, WakeRequest};

const SAVED: &str = "cost-saver:saved";
const EVENING: &str = "2026-11-20T21:00:00Z";
const MORNING: &str = "2026-11-23T09:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn inv(mode: Mode, now: &str) -> Invocation {
    Invocation { mode, now: at(now), dry_run: false, force: false }
}

fn config() -> Config {
    Config::from_lookup(|_| None).unwrap()
}

const API_BOUNDS: Bounds =
    Bounds { min: 1, max: 8, suspended: Suspension { scale_in: true, scale_out: false, scheduled: false } };

/// A dev cluster with an autoscaled service, a plain one, a team's zero, a protected service and
/// a protected cluster.
fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("dev", &[("Environment", "dev")]);
    f.add_cluster("prod", &[("Environment", "prod")]);
    f.add_service(MemoryService::new("dev", "api", 5).autoscaled(API_BOUNDS));
    f.add_service(MemoryService::new("dev", "web", 2));
    f.add_service(MemoryService::new("dev", "zero", 0));
    f.add_service(MemoryService::new("dev", "legacy", 4).tag("Environment", "Production"));
    f.add_service(MemoryService::new("prod", "db", 2));
    f
}

/// The reproduction: the second run read the service before the first tagged it and its target
/// after the first zeroed it. It must not save 0/0.
#[tokio::test]
async fn issue9_item1_two_sleeps_at_once_never_save_the_sleeping_values() {
    let (f, c) = (fleet(), config());
    let second = inv(Mode::Reconcile, EVENING);
    let mut seen_early = f.observe(&fleet_query(&c, &second)).await.unwrap().services;

    let first = run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    assert_eq!(first.count(Reported::ScaledDown), 2);
    let genuine = "desired=5 min=1 max=8 suspended=in at=2026-11-20T21:00:00Z";
    assert_eq!(f.service("dev", "api").tags[SAVED], genuine);

    // The second run's target read comes late: it sees 0/0, all suspended.
    complete(&f, &mut seen_early, &c, second, &mut vec![], Purpose::Plan).await.unwrap();
    let late = plan(&seen_early, &c, second);
    let outcomes = apply(&late, &f, SAVED, None, &crate::pacing::Limits::for_run(&c, None)).await;
    for o in &outcomes {
        assert!(!matches!(o.entry.action, Action::ScaleDown { .. }), "{o:?}");
    }
    assert_eq!(f.service("dev", "api").tags[SAVED], genuine, "saved state overwritten");
    assert_eq!(f.service("dev", "web").tags[SAVED], "desired=2 at=2026-11-20T21:00:00Z");

    // Even a plan made entirely before the first run (read, targets and all) changes nothing.
    let f = fleet();
    let mut stale = f.observe(&fleet_query(&c, &second)).await.unwrap().services;
    complete(&f, &mut stale, &c, second, &mut vec![], Purpose::Plan).await.unwrap();
    let stale_plan = plan(&stale, &c, second);
    run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
    let writes = f.writes();
    let outcomes = apply(&stale_plan, &f, SAVED, None, &crate::pacing::Limits::for_run(&c, None)).await;
    assert_eq!(f.writes(), writes, "{outcomes:?}");
    assert_eq!(f.service("dev", "api").tags[SAVED], genuine);

    let up = run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap();
    assert_eq!(up.count(Reported::Restored), 2);
    let api = f.service("dev", "api");
    assert_eq!((api.desired, api.scaling), (5, Some(API_BOUNDS)));
}

/// The pairs of runs the property test overlaps, and the states it starts from.
#[derive(Debug, Clone, Copy)]
enum Runner {
    ScaleDown,
    ForcedScaleDown,
    ScaleUp,
    ReconcileEvening,
    ReconcileMorning,
    WakeApi,
    WakeWeb,
}

const RUNNERS: [Runner; 7] = [
    Runner::ScaleDown,
    Runner::ForcedScaleDown,
    Runner::ScaleUp,
    Runner::ReconcileEvening,
    Runner::ReconcileMorning,
    Runner::WakeApi,
    Runner::WakeWeb,
];

async fn start(f: &MemoryFleet, c: &Config, runner: Runner) {
    let (mode, now, force) = match runner {
        Runner::ScaleDown => (Mode::ScaleDown, EVENING, false),
        Runner::ForcedScaleDown => (Mode::ScaleDown, MORNING, true),
        Runner::ScaleUp => (Mode::ScaleUp, MORNING, false),
        Runner::ReconcileEvening => (Mode::Reconcile, EVENING, false),
        Runner::ReconcileMorning => (Mode::Reconcile, MORNING, false),
        Runner::WakeApi | Runner::WakeWeb => {
            let service = if matches!(runner, Runner::WakeApi) { "api" } else { "web" };
            let request = WakeRequest {
                selector: Selector::Service { cluster: "dev".into(), service: service.into() },
                until: at("2026-11-20T22:00:00Z"),
                now: at(EVENING),
                dry_run: false,
                origin: crate::wake::WakeOrigin::Engineer,
            };
            wake(f, c, &request, None).await.unwrap();
            return;
        }
    };
    run(f, c, Invocation { mode, now: at(now), dry_run: false, force }, None).await.unwrap();
}

/// 10,000 seeded interleavings of two overlapping runs (any of scale-down, scale-up, reconcile,
/// wake), every call delayed a random number of scheduler turns, from an awake or an asleep
/// fleet. After both, one restore must bring every service back exactly: no saved state lost,
/// none rewritten with sleeping values, production never written.
#[tokio::test]
async fn issue9_item1_ten_thousand_interleavings_of_two_runs_lose_nothing() {
    let c = Config::from_lookup(|k| (k == "WRITE_CONCURRENCY").then(|| "2".to_string())).unwrap();
    let mut lost = Vec::new();
    for seed in 0..10_000u64 {
        let f = fleet();
        let asleep_first = seed % 3 == 0;
        if asleep_first {
            run(&f, &c, inv(Mode::ScaleDown, EVENING), None).await.unwrap();
        }
        let a = RUNNERS[(seed / 3 % 7) as usize];
        let b = RUNNERS[(seed / 21 % 7) as usize];
        f.interleave_randomly(seed);
        tokio::join!(start(&f, &c, a), start(&f, &c, b));

        // Whatever the two did, no service looks asleep without saved state ...
        for name in ["api", "web"] {
            let s = f.service("dev", name);
            let looks_asleep = s.desired == 0 || s.scaling.is_some_and(|b| b.max == 0);
            if looks_asleep && !s.tags.contains_key(SAVED) {
                lost.push(format!(
                    "seed {seed} ({a:?} + {b:?}, asleep first: {asleep_first}): {name} asleep without saved"
                ));
            }
            if let Some(v) = s.tags.get(SAVED) {
                let saved = crate::saved::SavedState::parse(v).unwrap();
                if saved.looks_asleep() {
                    lost.push(format!("seed {seed} ({a:?} + {b:?}): {name} saved sleeping values {v}"));
                }
            }
        }
        // ... and one restore brings back exactly what there was.
        run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T10:00:00Z"), None).await.unwrap();
        let api = f.service("dev", "api");
        let web = f.service("dev", "web");
        if (api.desired, api.scaling, web.desired) != (5, Some(API_BOUNDS), 2)
            || api.tags.contains_key(SAVED)
            || web.tags.contains_key(SAVED)
        {
            lost.push(format!(
                "seed {seed} ({a:?} + {b:?}, asleep first: {asleep_first}): api {} {:?} {:?}, web {} {:?}",
                api.desired,
                api.scaling,
                api.tags.get(SAVED),
                web.desired,
                web.tags.get(SAVED)
            ));
        }
        assert_eq!(f.service("dev", "zero").desired, 0, "seed {seed}: a team's zero was raised");
        let touched: Vec<String> =
            f.log().into_iter().filter(|l| l.contains(" dev/legacy ") || l.contains(" prod/db ")).collect();
        assert!(touched.is_empty(), "seed {seed}: production written: {touched:?}");
        if lost.len() > 5 {
            break;
        }
    }
    assert!(lost.is_empty(), "{} interleavings lost state:\n{}", lost.len(), lost.join("\n"));
}

/// A `now` the clock check missed (a library caller) still cannot write an unreadable `saved`.
#[tokio::test]
async fn issue9_item2_a_saved_state_that_would_not_read_back_is_never_written() {
    let (f, c) = (fleet(), config());
    let far = Invocation { mode: Mode::ScaleDown, now: at("9999-12-31T23:59:59-23:59"), dry_run: false, force: true };
    let summary = run(&f, &c, far, None).await.unwrap();
    assert_eq!(f.writes(), 0, "{:?}", summary.services);
    // Planned to sleep and refused: a failure the alarm sees, never a quiet skip.
    let api = summary.services.iter().find(|s| s.service == "api").unwrap();
    assert_eq!(api.action, Reported::Failed);
    assert_eq!(api.error_code.as_deref(), Some("RefusedByCostSaver"));
    assert!(api.error.as_deref().unwrap().contains("could not read back"), "{:?}", api.error);
}

/// Absurd counts in `saved`: no panic anywhere (dry run or not), restored to 1 with a warning;
/// a saved state from before 2020 saves nothing.
#[tokio::test]
async fn issue9_item3_huge_saved_counts_never_panic_and_restore_to_one() {
    let c = config();
    for dry_run in [true, false] {
        let f = MemoryFleet::new();
        f.add_cluster("dev", &[("Environment", "dev")]);
        f.add_task_definition(
            "td",
            crate::cost::TaskSize { vcpu: 1.0, memory_gb: 2.0, arch: crate::cost::Arch::X86_64, linux: true },
        );
        for (name, saved) in [
            ("huge", "desired=4294967295 at=2026-11-20T20:00:00Z"),
            ("above-ecs", "desired=5001 at=2026-11-20T20:00:00Z"),
            ("max-bounds", "desired=5000 min=4294967295 max=4294967295 suspended=none at=2026-11-20T20:00:00Z"),
        ] {
            f.add_service(MemoryService::new("dev", name, 0).runs("td").tag(SAVED, saved));
        }
        f.add_service(
            MemoryService::new("dev", "ancient", 0).runs("td").tag(SAVED, "desired=2 at=1970-01-01T00:00:00Z"),
        );
        for mode in [Mode::ScaleDown, Mode::ScaleUp, Mode::Reconcile] {
            let mut i = inv(mode, if mode == Mode::ScaleDown { EVENING } else { MORNING });
            i.dry_run = dry_run;
            let summary = run(&f, &c, i, None).await.unwrap();
            serde_json::to_string(&summary).unwrap();
            if mode == Mode::ScaleUp {
                for name in ["huge", "above-ecs", "max-bounds"] {
                    let s = summary.services.iter().find(|s| s.service == name).unwrap();
                    assert_eq!(s.to.desired, 1, "{name}: {s:?}");
                    assert!(s.warnings.iter().any(|w| w.contains("unreadable")), "{name}: {:?}", s.warnings);
                }
                let ancient = summary.services.iter().find(|s| s.service == "ancient").unwrap();
                assert_eq!(ancient.cost.as_ref().unwrap().usd_saved, Some(0.0), "{ancient:?}");
            }
        }
        if !dry_run {
            assert_eq!(f.service("dev", "huge").desired, 1);
            assert_eq!(f.service("dev", "ancient").desired, 2);
        }
    }
    // Totals of the largest counts a cost entry can carry do not overflow.
    let most = crate::savings::ServiceCost {
        tasks: u32::MAX,
        task_hourly_usd: Some(0.05),
        hourly_usd_avoided: Some(1.0),
        hours_slept: None,
        usd_saved: None,
        note: None,
    };
    let totals = crate::savings::totals([&most, &most, &most]);
    assert_eq!(totals.asleep_tasks, 3 * u64::from(u32::MAX));
}

/// A restore that ends at zero (saved desired 0, or bounds 0/0) is a restore: the tag goes and
/// the next runs write nothing.
#[tokio::test]
async fn issue9_item4_a_restore_to_zero_is_done_once_without_a_loop() {
    let c = config();
    let f = MemoryFleet::new();
    f.add_cluster("dev", &[("Environment", "dev")]);
    f.add_service(MemoryService::new("dev", "none", 0).tag(SAVED, "desired=0 at=2026-11-20T20:00:00Z"));
    f.add_service(
        MemoryService::new("dev", "pinned", 0)
            .tag(SAVED, "desired=3 min=0 max=0 suspended=none at=2026-11-20T20:00:00Z")
            .autoscaled(Bounds::ASLEEP),
    );
    let first = run(&f, &c, inv(Mode::ScaleUp, MORNING), None).await.unwrap();
    assert_eq!(first.count(Reported::Restored), 2, "{:?}", first.services);
    for s in &first.services {
        assert!(!s.steps.iter().any(|step| step.contains("wrote back")), "{s:?}");
    }
    assert!(!f.service("dev", "none").tags.contains_key(SAVED));
    assert!(!f.service("dev", "pinned").tags.contains_key(SAVED));
    let writes = f.writes();
    for mode in [Mode::ScaleUp, Mode::Reconcile] {
        run(&f, &c, inv(mode, "2026-11-23T09:15:00Z"), None).await.unwrap();
    }
    assert_eq!(f.writes(), writes, "{:?}", f.log());
}

/// Spaces around a protected (or scope) value: IAM's guard compares exactly, so the planner
/// changes nothing either, and says why.
#[tokio::test]
async fn issue9_item11_scope_values_with_spaces_are_never_changed() {
    let c = config();
    let f = MemoryFleet::new();
    f.add_cluster("dev", &[("Environment", "dev")]);
    f.add_service(MemoryService::new("dev", "padded-prod", 2).tag("Environment", " prod"));
    f.add_service(MemoryService::new("dev", "padded-dev", 2).tag("Environment", "dev "));
    f.add_service(
        MemoryService::new("dev", "asleep-padded", 0)
            .tag("Environment", "prod ")
            .tag(SAVED, "desired=2 at=2026-11-20T20:00:00Z"),
    );
    for (mode, now) in [(Mode::ScaleDown, EVENING), (Mode::Reconcile, EVENING), (Mode::ScaleUp, MORNING)] {
        let summary = run(&f, &c, inv(mode, now), None).await.unwrap();
        for s in &summary.services {
            assert_eq!(s.action, Reported::Skipped, "{s:?}");
            assert!(s.reason.contains("spaces around it"), "{s:?}");
            assert!(!s.warnings.is_empty(), "{s:?}");
        }
    }
    assert_eq!(f.writes(), 0, "{:?}", f.log());
}
