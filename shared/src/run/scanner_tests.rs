//! Issue 17, item 7: a scanner's week. One 2-task preview nobody uses, the default hours (crons
//! at 08:00 and 20:00 on work days, a `reconcile` every 15 minutes), and a scanner requesting its
//! page every N minutes, around the clock. With `WAKE_ON=visit` each request to the sleeping
//! preview wakes it for `WAKE_ON_REQUEST_MINUTES` (at least its idle-after); with `click` the
//! scanner gets the button page and nothing is woken. `docs/benchmarks.md` has the table.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::waker::{decide, Answer, RecentlyWoken};

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
const GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-0/0000";
const HOST: &str = "pr-0.example.com";

/// The share of a week's always-on task-hours saved, and what answered the scanner.
#[derive(Debug)]
struct Week {
    saved: f64,
    by_app: u32,
    buttons: u32,
    woken: u32,
}

async fn scanner_week(wake_on: &str, idle_after: &str, every: Option<i64>) -> Week {
    let c = Config::from_lookup(|k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "WAKE_ON" => Some(wake_on.to_string()),
        "IDLE_AFTER" => Some(idle_after.to_string()),
        _ => None,
    })
    .unwrap();
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_service(MemoryService::new("previews", "pr-0", 2).behind(GROUP));
    f.add_target_group(GROUP, true);
    f.add_rule("rule-0", LB, LISTENER, Some(10), HOST, GROUP);
    let start = DateTime::parse_from_rfc3339("2026-11-16T00:00:00Z").unwrap().with_timezone(&Utc);
    let step = Duration::minutes(5);
    let (mut task_hours, mut by_app, mut buttons, mut woken) = (0.0, 0, 0, 0);
    let mut now = start;
    while now < start + Duration::days(7) {
        f.set_healthy(GROUP, f.service("previews", "pr-0").desired > 0);
        let minutes = (now - start).num_minutes();
        if every.is_some_and(|n| minutes % n == 0) {
            let rule = f.rules().into_iter().find(|r| r.arn == "rule-0").unwrap();
            if rule.forwards_to == [GROUP] {
                f.record_requests(GROUP, now, 1);
                by_app += 1;
            } else {
                let knock = crate::waker::knock_for(&rule.forwards_to[0], HOST);
                // A cold waker each time: its 30-second memory is wall-clock time, which a simulated week does not pass.
                match decide(&c, &f, &knock, now, &RecentlyWoken::default(), crate::waker::test_deadline()).await {
                    Answer::Confirm { .. } => buttons += 1,
                    Answer::Waking { .. } => woken += 1,
                    other => panic!("{now}: {other:?}"),
                }
            }
        }
        super::idle_tests::default_hours_tick(&f, &c, now).await;
        task_hours += f64::from(f.service("previews", "pr-0").desired) / 12.0;
        now += step;
    }
    Week { saved: 1.0 - task_hours / (2.0 * 24.0 * 7.0), by_app, buttons, woken }
}

#[tokio::test]
async fn a_scanner_keeps_a_visit_preview_awake_and_never_wakes_a_click_one() {
    let mut table = Vec::new();
    let mut saved = std::collections::BTreeMap::new();
    for idle_after in ["off", "24h"] {
        for every in [None, Some(120), Some(30)] {
            for mode in ["visit", "click"] {
                let week = scanner_week(mode, idle_after, every).await;
                let scanner = every.map_or("none".to_string(), |n| format!("every {n} min"));
                table.push(format!(
                    "| {idle_after} | {scanner} | {mode} | {:.1}% | {} | {} | {} |",
                    week.saved * 100.0,
                    week.by_app,
                    week.woken,
                    week.buttons
                ));
                if mode == "click" {
                    assert_eq!(week.woken, 0, "a click preview is never woken by the scanner: {week:?}");
                }
                saved.insert((idle_after, every, mode), week.saved);
            }
        }
    }
    println!("| idle-after | scanner | WAKE_ON | saved | answered by the app | woken by the scanner | button pages |");
    println!("|---|---|---|---|---|---|---|");
    for row in &table {
        println!("{row}");
    }
    let pct = |k| saved[&k] * 100.0;
    // Without a scanner the schedule saves its off-hours: 108 of 168 hours.
    assert!((pct(("off", None, "visit")) - 64.3).abs() < 0.5, "{}", pct(("off", None, "visit")));
    // A scanner costs a visit preview most of its savings, and a click preview nothing.
    for every in [Some(120), Some(30)] {
        assert!(pct(("off", every, "visit")) < 50.0, "{every:?}: {}", pct(("off", every, "visit")));
        assert!((pct(("off", every, "click")) - pct(("off", None, "click"))).abs() < 0.1, "{every:?}");
        assert!((pct(("24h", every, "click")) - pct(("24h", None, "click"))).abs() < 0.1, "{every:?}");
    }
    assert!(
        pct(("24h", Some(30), "visit")) < 10.0,
        "a 24h idle-after keeps it awake: {}",
        pct(("24h", Some(30), "visit"))
    );
}
