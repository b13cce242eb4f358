use chrono::{DateTime, Utc};

use super::*;
use crate::cost::Launch;
use crate::model::{Suspension, Tags};

const SAVED: &str = "cost-saver:saved";
const KEEP: &str = "cost-saver:keep-alive";
const SCHEDULE: &str = "cost-saver:schedule";
/// Friday 2026-11-20 21:00 UTC: after the default working day.
const EVENING: &str = "2026-11-20T21:00:00Z";
/// Monday 2026-11-23 09:00 UTC: inside it.
const MORNING: &str = "2026-11-23T09:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|_| None).unwrap()
}

fn svc(name: &str, desired: u32, tags: &[(&str, &str)], cluster_tags: &[(&str, &str)]) -> ObservedService {
    let t = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Tags>();
    ObservedService {
        id: ServiceId {
            arn: format!("arn:aws:ecs:us-east-1:123456789012:service/c1/{name}"),
            cluster: "c1".into(),
            name: name.into(),
        },
        status: "ACTIVE".into(),
        strategy: SchedulingStrategy::Replica,
        desired,
        running: desired,
        tags: t(tags),
        cluster_tags: t(cluster_tags),
        last_deployed_at: None,
        scaling: None,
        task_definition: None,
        launch: Launch::Fargate,
        target_groups: vec![],
        alternate_target_groups: vec![],
        external_deployments: None,
        requests: None,
        waking: None,
    }
}

fn dev(name: &str, desired: u32) -> ObservedService {
    svc(name, desired, &[("Environment", "dev")], &[])
}

fn decide_at(service: ObservedService, mode: Mode, now: &str) -> PlanEntry {
    decide_with(service, Invocation { mode, now: at(now), dry_run: false, force: false })
}

fn decide_with(service: ObservedService, inv: Invocation) -> PlanEntry {
    let plan = plan(&[service], &config(), inv);
    assert_eq!(plan.entries.len(), 1, "expected one entry: {plan}");
    plan.entries.into_iter().next().unwrap()
}

fn skipped_because(entry: &PlanEntry, needle: &str) {
    assert_eq!(entry.action, Action::Skip, "{entry:?}");
    assert!(entry.reason.contains(needle), "reason {:?} lacks {needle:?}", entry.reason);
}

#[test]
fn scales_down_after_hours_saving_count_and_bounds() {
    let mut s = dev("api", 3);
    s.scaling = Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE });
    let e = decide_at(s, Mode::ScaleDown, EVENING);
    let Action::ScaleDown { saved, has_target, .. } = &e.action else { panic!("{e:?}") };
    assert!(has_target);
    assert_eq!(saved.to_string(), "desired=3 min=1 max=4 suspended=none at=2026-11-20T21:00:00Z");
    assert_eq!(e.from, Capacity::new(3, Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE })));
    assert_eq!(e.to, Capacity::new(0, Some(Bounds::ASLEEP)));
    assert!(e.reason.contains("says asleep"), "{}", e.reason);
}

#[test]
fn scope_from_service_or_cluster_case_insensitively() {
    let by_cluster = svc("web", 2, &[], &[("Environment", "Preview")]);
    assert!(matches!(decide_at(by_cluster, Mode::ScaleDown, EVENING).action, Action::ScaleDown { .. }));
    // The service's own other value does not take it out of a dev cluster.
    let mixed = svc("web", 2, &[("Environment", "staging")], &[("Environment", "DEV")]);
    assert!(matches!(decide_at(mixed, Mode::ScaleDown, EVENING).action, Action::ScaleDown { .. }));
    // Out of scope and nothing saved: not in the plan at all.
    let other = svc("web", 2, &[("Environment", "staging")], &[]);
    let p =
        plan(&[other], &config(), Invocation { mode: Mode::ScaleDown, now: at(EVENING), dry_run: false, force: false });
    assert!(p.entries.is_empty());
}

#[test]
fn protection_wins_over_everything() {
    for (tags, cluster_tags, source) in [
        (vec![("Environment", "prod")], vec![("Environment", "dev")], "service"),
        (vec![("Environment", "dev")], vec![("Environment", "Production")], "cluster"),
        (vec![("Environment", "LIVE")], vec![], "service"),
    ] {
        let s = svc("db", 2, &tags, &cluster_tags);
        let forced = Invocation { mode: Mode::ScaleDown, now: at(EVENING), dry_run: false, force: true };
        let e = decide_with(s, forced);
        skipped_because(&e, "protected");
        assert!(e.reason.contains(source), "{}", e.reason);
    }
}

#[test]
fn protected_service_still_carrying_saved_state_is_restored() {
    let s = svc("db", 0, &[("Environment", "prod"), (SAVED, "desired=2 at=2026-11-20T20:00:00Z")], &[]);
    for mode in [Mode::ScaleDown, Mode::ScaleUp] {
        let e = decide_at(s.clone(), mode, EVENING);
        assert!(matches!(e.action, Action::Restore { bounds: None, desired: Some(2), .. }), "{mode:?}");
        assert!(e.reason.contains("protected"));
    }
}

#[test]
fn every_scale_down_skip_reason() {
    let mut inactive = dev("old", 2);
    inactive.status = "INACTIVE".into();
    skipped_because(&decide_at(inactive, Mode::ScaleDown, EVENING), "status is INACTIVE");

    let mut daemon = dev("agent", 2);
    daemon.strategy = SchedulingStrategy::Daemon;
    skipped_because(&decide_at(daemon, Mode::ScaleDown, EVENING), "DAEMON");

    skipped_because(&decide_at(dev("api", 2), Mode::ScaleDown, MORNING), "says awake");

    let kept = svc("api", 2, &[("Environment", "dev"), (KEEP, "2026-11-21T02:00:00Z")], &[]);
    skipped_because(&decide_at(kept, Mode::ScaleDown, EVENING), "keep-alive on the service until 2026-11-21T02:00:00Z");

    let kept_by_cluster = svc("api", 2, &[("Environment", "dev")], &[(KEEP, "true")]);
    skipped_because(&decide_at(kept_by_cluster, Mode::ScaleDown, EVENING), "keep-alive on the cluster (no end)");

    skipped_because(&decide_at(dev("batch", 0), Mode::ScaleDown, EVENING), "chose zero");

    let mut fresh = dev("pr-42", 2);
    fresh.last_deployed_at = Some(at("2026-11-20T20:50:00Z"));
    skipped_because(&decide_at(fresh, Mode::ScaleDown, EVENING), "grace period until 2026-11-20T21:05:00Z");

    let asleep = svc("api", 0, &[("Environment", "dev"), (SAVED, "desired=2 at=2026-11-20T20:00:00Z")], &[]);
    skipped_because(&decide_at(asleep, Mode::ScaleDown, EVENING), "already asleep");
}

#[test]
fn grace_period_counts_small_clock_skew_but_not_what_if_runs_before_the_deployment() {
    let mut skewed = dev("pr-42", 2);
    skewed.last_deployed_at = Some(at("2026-11-20T21:03:00Z"));
    skipped_because(&decide_at(skewed, Mode::ScaleDown, EVENING), "grace period");
    let mut later = dev("pr-42", 2);
    later.last_deployed_at = Some(at("2026-11-22T10:00:00Z"));
    assert!(matches!(decide_at(later, Mode::ScaleDown, EVENING).action, Action::ScaleDown { .. }));
}

#[test]
fn grace_period_over_means_sleep() {
    let mut s = dev("pr-42", 2);
    s.last_deployed_at = Some(at("2026-11-20T20:45:00Z"));
    assert!(matches!(decide_at(s, Mode::ScaleDown, EVENING).action, Action::ScaleDown { .. }));
}

#[test]
fn expired_keep_alive_is_ignored_and_unreadable_one_protects_with_a_warning() {
    let expired = svc("api", 2, &[("Environment", "dev"), (KEEP, "2026-11-20T20:30:00Z")], &[]);
    assert!(matches!(decide_at(expired, Mode::ScaleDown, EVENING).action, Action::ScaleDown { .. }));
    let garbled = svc("api", 2, &[("Environment", "dev"), (KEEP, "until friday")], &[]);
    let e = decide_at(garbled, Mode::ScaleDown, EVENING);
    skipped_because(&e, "keep-alive");
    assert!(e.warnings[0].contains("until friday") && e.warnings[0].contains("treated as active"));
}

#[test]
fn own_schedule_beats_cluster_beats_default_and_unreadable_means_always() {
    let own = svc("api", 2, &[("Environment", "dev"), (SCHEDULE, "22:00-06:00")], &[(SCHEDULE, "never")]);
    skipped_because(&decide_at(own, Mode::ScaleDown, "2026-11-20T23:00:00Z"), "`22:00-06:00` says awake");
    let cluster = svc("api", 2, &[("Environment", "dev")], &[(SCHEDULE, "Mon-Sun 00:00-24:00")]);
    skipped_because(&decide_at(cluster, Mode::ScaleDown, EVENING), "says awake");
    let broken = svc("api", 2, &[("Environment", "dev"), (SCHEDULE, "office hours")], &[]);
    let e = decide_at(broken, Mode::ScaleDown, EVENING);
    skipped_because(&e, "always");
    assert!(e.warnings[0].contains("unreadable cost-saver:schedule"), "{:?}", e.warnings);
}

#[test]
fn force_ignores_schedules_but_not_keep_alive() {
    let inv = Invocation { mode: Mode::ScaleDown, now: at(MORNING), dry_run: false, force: true };
    let e = decide_with(dev("api", 2), inv);
    assert!(matches!(e.action, Action::ScaleDown { .. }));
    assert!(e.reason.starts_with("forced"));
    let kept = svc("api", 2, &[("Environment", "dev"), (KEEP, "true")], &[]);
    skipped_because(&decide_with(kept, inv), "keep-alive");
}

#[test]
fn woken_without_keep_alive_is_put_back_to_sleep_without_touching_saved() {
    let mut s = svc(
        "api",
        2,
        &[("Environment", "dev"), (SAVED, "desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z")],
        &[],
    );
    s.scaling = Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE });
    let e = decide_at(s, Mode::ScaleDown, EVENING);
    let saved = "desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z".to_string();
    assert_eq!(e.action, Action::KeepAsleep { bounds: true, desired: true, saved });
}

#[test]
fn scale_up_restores_exactly_what_was_saved() {
    let mut s = svc(
        "api",
        0,
        &[("Environment", "dev"), (SAVED, "desired=3 min=1 max=4 suspended=in at=2026-11-20T20:00:00Z")],
        &[],
    );
    s.scaling = Some(Bounds::ASLEEP);
    let e = decide_at(s, Mode::ScaleUp, MORNING);
    let want = Bounds { min: 1, max: 4, suspended: Suspension { scale_in: true, scale_out: false, scheduled: false } };
    let saved = "desired=3 min=1 max=4 suspended=in at=2026-11-20T20:00:00Z".to_string();
    assert_eq!(e.action, Action::Restore { bounds: Some(want), desired: Some(3), saved });
    assert_eq!(e.to, Capacity::new(3, Some(want)));
}

#[test]
fn restore_clamps_into_saved_bounds_and_keeps_a_higher_manual_count() {
    let saved = "desired=9 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z";
    let mut s = svc("api", 0, &[("Environment", "dev"), (SAVED, saved)], &[]);
    s.scaling = Some(Bounds::ASLEEP);
    assert!(matches!(decide_at(s, Mode::ScaleUp, MORNING).action, Action::Restore { desired: Some(4), .. }));

    let raised = svc("api", 5, &[("Environment", "dev"), (SAVED, "desired=2 at=2026-11-20T20:00:00Z")], &[]);
    assert!(matches!(
        decide_at(raised, Mode::ScaleUp, MORNING).action,
        Action::Restore { bounds: None, desired: None, .. }
    ));
}

#[test]
fn unreadable_saved_state_restores_to_one_with_a_warning() {
    let s = svc("api", 0, &[("Environment", "dev"), (SAVED, "desired=lots")], &[]);
    let e = decide_at(s, Mode::ScaleUp, MORNING);
    assert!(matches!(e.action, Action::Restore { bounds: None, desired: Some(1), .. }));
    assert!(e.warnings.iter().any(|w| w.contains("unreadable")), "{:?}", e.warnings);
}

#[test]
fn every_scale_up_skip_reason() {
    skipped_because(&decide_at(dev("api", 2), Mode::ScaleUp, MORNING), "no saved state");
    let asleep = svc("api", 0, &[("Environment", "dev"), (SAVED, "desired=2 at=2026-11-20T20:00:00Z")], &[]);
    skipped_because(&decide_at(asleep.clone(), Mode::ScaleUp, "2026-11-21T09:00:00Z"), "says asleep");
    // A keep-alive wakes it even when the schedule says asleep.
    let mut kept = asleep;
    kept.tags.insert(KEEP.into(), "true".into());
    assert!(matches!(decide_at(kept, Mode::ScaleUp, "2026-11-21T09:00:00Z").action, Action::Restore { .. }));
}

#[test]
fn a_service_that_left_scope_while_asleep_is_restored() {
    let s = svc("api", 0, &[(SAVED, "desired=2 at=2026-11-20T20:00:00Z")], &[]);
    let e = decide_at(s.clone(), Mode::ScaleUp, "2026-11-21T09:00:00Z");
    assert!(matches!(e.action, Action::Restore { desired: Some(2), .. }));
    skipped_because(&decide_at(s, Mode::ScaleDown, EVENING), "no longer in scope");
}

#[test]
fn holidays_keep_services_asleep() {
    let mut c = config();
    c.holidays = vec![chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()];
    let asleep = svc("api", 0, &[("Environment", "dev"), (SAVED, "desired=2 at=2026-11-20T20:00:00Z")], &[]);
    let p = plan(&[asleep], &c, Invocation { mode: Mode::ScaleUp, now: at(MORNING), dry_run: false, force: false });
    skipped_because(&p.entries[0], "holiday");
}

#[test]
fn plan_reads_as_text() {
    let p = plan(
        &[dev("api", 2), dev("batch", 0)],
        &config(),
        Invocation { mode: Mode::ScaleDown, now: at(EVENING), dry_run: true, force: false },
    );
    let text = p.to_string();
    assert!(text.starts_with("scale-down plan at 2026-11-20T21:00:00Z (dry run)"), "{text}");
    assert!(text.contains("would_scale_down   c1/api"), "{text}");
    assert!(text.contains("desired 2 -> desired 0"), "{text}");
    assert!(text.contains("skipped            c1/batch"), "{text}");
}
