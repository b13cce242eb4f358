//! Issue 10: sleeping when idle, and a simulated week of previews that sleep when idle and wake
//! on their first request.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};

use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::Bounds;
use crate::saved::SavedState;
use crate::summary::Reported;
use crate::waker::{decide, Answer, RecentlyWoken};

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config(idle_after: &str) -> Config {
    Config::from_lookup(|k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "IDLE_AFTER" => Some(idle_after.to_string()),
        _ => None,
    })
    .unwrap()
}

fn group(i: usize) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-{i}/{i:04}")
}

/// `n` previews behind one ALB, each with its own host rule and target group.
fn previews(n: usize) -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    for i in 0..n {
        f.add_service(MemoryService::new("previews", &format!("pr-{i}"), 2).behind(&group(i)));
        f.add_target_group(&group(i), true);
        let priority = u32::try_from(10 * (i + 1)).unwrap();
        f.add_rule(&format!("rule-{i}"), LB, LISTENER, Some(priority), &format!("pr-{i}.example.com"), &group(i));
    }
    f
}

const FRIDAY_11: &str = "2026-11-20T11:00:00Z";

#[tokio::test]
async fn reconcile_puts_an_idle_preview_to_sleep_in_working_hours_and_nothing_else_wins_over_its_rules() {
    let c = config("off");
    let f = previews(8);
    let quiet = at(FRIDAY_11) - Duration::minutes(120);
    let tag = |i: usize, k: &str, v: &str| {
        f.edit("previews", &format!("pr-{i}"), |s| {
            s.tags.insert(k.into(), v.into());
        })
    };
    for i in 0..8 {
        tag(i, "cost-saver:idle-after", "90m");
    }
    f.record_requests(&group(1), at(FRIDAY_11) - Duration::minutes(30), 4); // used: stays
    tag(2, "cost-saver:keep-alive", "true");
    tag(3, "cost-saver:schedule", "always");
    tag(4, "Environment", "prod");
    f.edit("previews", "pr-5", |s| s.last_deployed_at = Some(at(FRIDAY_11) - Duration::minutes(30)));
    tag(6, "cost-saver:idle-after", "soon");
    f.edit("previews", "pr-7", |s| s.target_groups.clear()); // no load balancer: never idle
    f.record_requests(&group(0), quiet, 9); // before the window: does not count

    let dry = run(&f, &c, Invocation { mode: Mode::Reconcile, now: at(FRIDAY_11), dry_run: true, force: false }, None)
        .await
        .unwrap();
    assert_eq!(dry.count(Reported::WouldScaleDown), 1, "{:#?}", dry.services);
    let down =
        run(&f, &c, Invocation { mode: Mode::ScaleDown, now: at(FRIDAY_11), dry_run: false, force: false }, None)
            .await
            .unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 0, "only reconcile idle-sleeps");

    let summary =
        run(&f, &c, Invocation { mode: Mode::Reconcile, now: at(FRIDAY_11), dry_run: false, force: false }, None)
            .await
            .unwrap();
    let report = |i: usize| summary.services.iter().find(|s| s.service == format!("pr-{i}")).unwrap().clone();
    assert_eq!(report(0).action, Reported::ScaledDown);
    assert_eq!(report(0).reason, "idle for 90 min: no request through its load balancer (idle-after 90m)");
    for i in 1..8 {
        assert_ne!(report(i).action, Reported::ScaledDown, "pr-{i}: {:?}", report(i));
    }
    assert!(report(6).warnings.iter().any(|w| w.contains("unreadable cost-saver:idle-after")), "{:?}", report(6));
    assert_eq!(f.service("previews", "pr-0").desired, 0);
    assert!(f.rules().iter().any(|r| r.tags.contains_key("cost-saver:wakes")), "asleep behind its waking rule");
    let emf = crate::emf::document("reconcile", &summary, 0);
    assert_eq!(emf["IdleSlept"], 1.0);
    let idle: Vec<&str> = summary.services.iter().filter(|s| s.idle).map(|s| s.service.as_str()).collect();
    assert_eq!(idle, ["pr-0"], "only the idle sleep is marked idle");
}

#[tokio::test]
async fn idle_after_default_applies_and_off_opts_out() {
    let c = config("1h");
    let f = previews(2);
    f.edit("previews", "pr-1", |s| {
        s.tags.insert("cost-saver:idle-after".into(), "off".into());
    });
    run(&f, &c, Invocation { mode: Mode::Reconcile, now: at(FRIDAY_11), dry_run: false, force: false }, None)
        .await
        .unwrap();
    assert_eq!((f.service("previews", "pr-0").desired, f.service("previews", "pr-1").desired), (0, 2));
}

/// The waker's keep-alive lasts at least the idle-after: a service woken by a request is not
/// idle-slept on a window that began while it slept.
#[tokio::test]
async fn a_service_woken_by_a_request_is_not_idle_slept_again_before_its_idle_after() {
    let c = config("2h");
    let f = previews(1);
    run(&f, &c, Invocation { mode: Mode::Reconcile, now: at(FRIDAY_11), dry_run: false, force: false }, None)
        .await
        .unwrap();
    assert_eq!(f.service("previews", "pr-0").desired, 0);
    let waking =
        f.rules().into_iter().find(|r| r.tags.contains_key("cost-saver:wakes")).unwrap().forwards_to[0].clone();
    let woke = at(FRIDAY_11) + Duration::minutes(3);
    decide(
        &c,
        &f,
        &crate::waker::knock_for(&waking, "pr-0.example.com"),
        woke,
        &RecentlyWoken::default(),
        crate::waker::test_deadline(),
    )
    .await;
    assert_eq!(
        f.service("previews", "pr-0").tags["cost-saver:keep-alive"],
        "2026-11-20T13:10:00Z",
        "2 h, not WAKE_ON_REQUEST_MINUTES"
    );
    for minutes in [15, 60, 119] {
        let now = woke + Duration::minutes(minutes);
        run(&f, &c, Invocation { mode: Mode::Reconcile, now, dry_run: false, force: false }, None).await.unwrap();
        assert_eq!(f.service("previews", "pr-0").desired, 2, "+{minutes} min");
    }
}

/// A week (Monday to Monday, 5-minute steps) of ten previews, 2 tasks each, on the default
/// working hours with `IDLE_AFTER=60m`, the crons at 08:00 and 20:00 and `reconcile` every 15
/// minutes. Engineers use a preview now and then: a 30-minute session, a request every 5
/// minutes. Every request is answered (by the app or by the waker), and the fleet saves at
/// least 85% of the task-hours of always-on.
#[tokio::test]
async fn a_simulated_week_of_idle_previews_saves_85_percent_and_answers_every_request() {
    let c = config("60m");
    let n = 10;
    let f = previews(n);
    let start = at("2026-11-16T00:00:00Z");
    let (mut task_hours, mut by_app, mut by_waker, mut unanswered) = (0.0, 0, 0, Vec::new());
    let step = Duration::minutes(5);
    let mut now = start;
    while now < start + Duration::days(7) {
        let weekday = now.weekday().num_days_from_monday() as usize;
        let workday = now.weekday() != Weekday::Sat && now.weekday() != Weekday::Sun;
        // Target groups are healthy while their service runs tasks (since the last step).
        for i in 0..n {
            f.set_healthy(&group(i), f.service("previews", &format!("pr-{i}")).desired > 0);
        }
        for i in 0..n {
            let session_start = 10 + (i % 7) as u32;
            let used_today = workday && (i + weekday).is_multiple_of(3);
            let in_session = used_today && now.hour() == session_start && now.minute() < 30;
            if !in_session {
                continue;
            }
            let behind_waker = f.rules().iter().any(|r| {
                crate::routing::forwards_to_waker(r)
                    && r.tags.get("cost-saver:wakes").is_some_and(|v| v.ends_with(&format!("/pr-{i}")))
            });
            let running = f.service("previews", &format!("pr-{i}")).desired > 0;
            if behind_waker {
                let waking = f
                    .rules()
                    .into_iter()
                    .find(|r| {
                        crate::routing::forwards_to_waker(r)
                            && r.tags.get("cost-saver:wakes").is_some_and(|v| v.ends_with(&format!("/pr-{i}")))
                    })
                    .unwrap()
                    .forwards_to[0]
                    .clone();
                match decide(
                    &c,
                    &f,
                    &crate::waker::knock_for(&waking, &format!("pr-{i}.example.com")),
                    now,
                    &RecentlyWoken::default(),
                    crate::waker::test_deadline(),
                )
                .await
                {
                    Answer::Waking { .. } => by_waker += 1,
                    other => unanswered.push(format!("{now} pr-{i}: {other:?}")),
                }
            } else if running {
                f.record_requests(&group(i), now, 1);
                by_app += 1;
            } else {
                unanswered.push(format!("{now} pr-{i}: asleep without a waking rule (503)"));
            }
        }
        default_hours_tick(&f, &c, now).await;
        task_hours += (0..n).map(|i| f64::from(f.service("previews", &format!("pr-{i}")).desired)).sum::<f64>() / 12.0;
        now += step;
    }
    let always_on = (n * 2 * 24 * 7) as f64;
    let saved = 1.0 - task_hours / always_on;
    println!("week: {task_hours:.1} task-hours of {always_on} always-on, {:.1}% saved; {by_app} requests served by the apps, {by_waker} by the waker", saved * 100.0);
    assert!(unanswered.is_empty(), "{unanswered:#?}");
    assert!(by_waker > 0 && by_app > 0, "both paths exercised: app {by_app}, waker {by_waker}");
    assert!(saved >= 0.85, "saved {:.1}% of task-hours", saved * 100.0);
}

/// What the template deploys with the default hours, at `now` of a simulated week: the crons at
/// 08:00 and 20:00 on work days, `reconcile` every 15 minutes otherwise; none may fail.
pub(super) async fn default_hours_tick(f: &MemoryFleet, c: &Config, now: DateTime<Utc>) {
    let workday = now.weekday() != Weekday::Sat && now.weekday() != Weekday::Sun;
    let cron = |h: u32| workday && now.hour() == h && now.minute() == 0;
    let mode = if cron(20) {
        Some(Mode::ScaleDown)
    } else if cron(8) {
        Some(Mode::ScaleUp)
    } else {
        now.minute().is_multiple_of(15).then_some(Mode::Reconcile)
    };
    if let Some(mode) = mode {
        let summary = run(f, c, Invocation { mode, now, dry_run: false, force: false }, None).await.unwrap();
        assert_eq!(summary.failures().count(), 0, "{now}: {:?}", summary.services);
    }
}

/// An idle autoscaled preview must sleep like a scheduled one: bounds saved, target pinned at 0/0
/// (otherwise its autoscaler raises it straight back to min, and the wake restores no bounds).
#[tokio::test]
async fn an_idle_autoscaled_preview_saves_its_bounds_and_pins_its_target_at_zero() {
    let c = config("off");
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    let bounds = Bounds { min: 1, max: 4, suspended: crate::model::Suspension::NONE };
    f.add_service(
        MemoryService::new("previews", "pr-0", 2)
            .behind(&group(0))
            .autoscaled(bounds)
            .tag("cost-saver:idle-after", "30m"),
    );
    f.add_target_group(&group(0), true);
    f.add_rule("rule-0", LB, LISTENER, Some(10), "pr-0.example.com", &group(0));

    let inv = Invocation { mode: Mode::Reconcile, now: at(FRIDAY_11), dry_run: false, force: false };
    let summary = run(&f, &c, inv, None).await.unwrap();
    let report = &summary.services[0];
    assert_eq!((report.action, report.idle), (Reported::ScaledDown, true), "{report:#?}");
    let s = f.service("previews", "pr-0");
    assert_eq!((s.desired, s.scaling), (0, Some(Bounds::ASLEEP)), "target pinned at 0/0");
    let saved = SavedState::parse(&s.tags["cost-saver:saved"]).unwrap();
    assert_eq!((saved.desired, saved.bounds), (2, Some(bounds)), "the bounds are what a wake restores");
}

/// Issue 17, item 1: requests the metrics leave out (a partial answer) are unknown, not 0: the
/// preview stays awake, and the summary says why.
#[tokio::test]
async fn a_preview_whose_requests_are_unknown_is_not_idle_slept_and_the_summary_says_why() {
    let c = config("30m");
    let f = previews(2);
    f.record_requests(&group(1), at(FRIDAY_11) - Duration::minutes(200), 1); // both quiet for 30 min
    f.requests_unknown(&group(0));
    let inv = Invocation { mode: Mode::Reconcile, now: at(FRIDAY_11), dry_run: false, force: false };
    let summary = run(&f, &c, inv, None).await.unwrap();
    let action = |name: &str| summary.services.iter().find(|s| s.service == name).unwrap().action;
    assert_eq!((action("pr-0"), action("pr-1")), (Reported::Skipped, Reported::ScaledDown), "{summary:#?}");
    assert_eq!(f.service("previews", "pr-0").desired, 2);
    assert!(
        summary.warnings.iter().any(|w| w.starts_with("previews/pr-0: its requests are unknown")),
        "{:?}",
        summary.warnings
    );
}

fn at_time(mode: Mode, t: &str) -> Invocation {
    Invocation { mode, now: at(t), dry_run: false, force: false }
}

/// Issue 17, item 2: a preview whose traffic no waking rule can cover (here the listener's
/// default action) was idle-slept, then skipped by every run while its users got 503. It is
/// never idle-slept; the Friday cron still puts it to sleep, and Monday's scale-up wakes it.
#[tokio::test]
async fn a_preview_whose_traffic_cannot_reach_the_waker_is_never_idle_slept_nor_left_asleep() {
    let c = config("30m");
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_service(MemoryService::new("previews", "pr-0", 2).behind(&group(0)));
    f.add_target_group(&group(0), true);
    f.add_rule("default-0", LB, LISTENER, None, "", &group(0));

    let idle = run(&f, &c, at_time(Mode::Reconcile, FRIDAY_11), None).await.unwrap();
    assert_eq!(idle.services[0].action, Reported::Skipped, "{idle:#?}");
    assert_eq!(f.service("previews", "pr-0").desired, 2);
    let down = run(&f, &c, at_time(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.services[0].action, Reported::ScaledDown, "{down:#?}");
    let up = run(&f, &c, at_time(Mode::ScaleUp, "2026-11-23T08:00:00Z"), None).await.unwrap();
    assert_eq!(up.services[0].action, Reported::Restored, "{up:#?}");
    assert_eq!(f.service("previews", "pr-0").desired, 2);
}

/// The other side of item 2: behind its waking rule, a preview slept by the Friday cron stays
/// asleep at 08:00 and wakes on its next request.
#[tokio::test]
async fn a_preview_behind_its_waking_rule_stays_asleep_at_eight_for_its_next_request() {
    let c = config("30m");
    let f = previews(1);
    let down = run(&f, &c, at_time(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.services[0].action, Reported::ScaledDown, "{down:#?}");
    let up = run(&f, &c, at_time(Mode::ScaleUp, "2026-11-23T08:00:00Z"), None).await.unwrap();
    assert_eq!(up.services[0].action, Reported::Skipped, "{up:#?}");
    assert!(up.services[0].reason.contains("wakes on its next request"), "{:?}", up.services[0].reason);
    assert_eq!(f.service("previews", "pr-0").desired, 0);
}

/// Issue 17, item 1: CloudWatch shows a load balancer's minute a few minutes late. With a 5m
/// idle-after the look-back saw two minutes of a busy session and put it to sleep between two
/// clicks. Now it starts `CLOUDWATCH_DELAY_MINUTES` earlier: a session clicking every 4 minutes,
/// its requests 3 minutes late in the metrics, stays awake through a reconcile every minute, and
/// sleeps once its last request's minute is idle-after plus the allowance old.
#[tokio::test]
async fn a_busy_preview_is_not_idle_slept_while_cloudwatch_shows_its_requests_late() {
    let (c, f) = (config("5m"), previews(1));
    f.metrics_late_by(Duration::minutes(3));
    let start = at("2026-11-20T10:00:00Z");
    for click in 0..=15 {
        f.record_requests(&group(0), start + Duration::minutes(4 * click), 3);
    }
    let last = start + Duration::minutes(60);
    let mut slept_at = None;
    for minute in 6..=75 {
        let now = start + Duration::minutes(minute);
        let inv = Invocation { mode: Mode::Reconcile, now, dry_run: false, force: false };
        run(&f, &c, inv, None).await.unwrap();
        if f.service("previews", "pr-0").desired == 0 {
            slept_at = Some(now);
            break;
        }
    }
    let slept_at = slept_at.expect("it sleeps once the session is over");
    assert!(slept_at > last + Duration::minutes(5), "slept during the session, at {slept_at}");
    assert_eq!(slept_at, last + Duration::minutes(11), "the first reconcile after 5 + 5 minutes");
}

/// Issue 17, item 1: an ECS blue/green service's listed target group may be the idle one while
/// its alternate serves the traffic; a service CodeDeploy (or an external controller) deploys
/// may serve from groups it does not list at all. The alternate's requests count; the others'
/// requests are unknown, and neither sleeps while busy.
#[tokio::test]
async fn blue_green_services_count_their_alternate_and_code_deploy_ones_are_never_idle() {
    let (c, f) = (config("30m"), previews(3));
    let green = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-0-green/0f";
    f.edit("previews", "pr-0", |s| s.alternate_target_groups.push(green.into()));
    f.record_requests(green, at(FRIDAY_11) - Duration::minutes(10), 40);
    f.edit("previews", "pr-1", |s| s.external_deployments = Some("CODE_DEPLOY".into()));
    let summary = run(&f, &c, at_time(Mode::Reconcile, FRIDAY_11), None).await.unwrap();
    let desired: Vec<u32> = (0..3).map(|i| f.service("previews", &format!("pr-{i}")).desired).collect();
    assert_eq!(desired, [2, 2, 0], "only the control preview, idle on every group, sleeps: {summary:#?}");
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.starts_with("previews/pr-1: its requests are unknown (deployed by CODE_DEPLOY")),
        "{:?}",
        summary.warnings
    );
}
