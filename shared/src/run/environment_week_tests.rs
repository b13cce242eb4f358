//! Issue 19: the simulated week of issue 10, with previews of three services (web and api behind
//! one load balancer, on the host and its `/api/*`; a worker with no load balancer), once as
//! environments and once service by service (`ENVIRONMENT_TAG_KEYS=none`) on the same traffic.
//! A session loads the page and then calls the API, every 5 minutes for 30 minutes.

use chrono::{Datelike, Duration, Timelike, Weekday};

use super::environment_tests::{at, WAKER};
use super::idle_tests::default_hours_tick;
use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::RuleCondition;
use crate::waker::{decide, knock_for, test_deadline, Answer, RecentlyWoken};

const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
const PREVIEWS: usize = 6;
/// Tasks per preview: web 2, api 2, worker 1.
const TASKS: [(&str, u32); 3] = [("web", 2), ("api", 2), ("worker", 1)];

fn group(i: usize, tier: &str) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-{i}-{tier}/{i:04}")
}

fn host(i: usize) -> String {
    format!("pr-{i}.previews.example.com")
}

fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    for i in 0..PREVIEWS {
        for (tier, tasks) in TASKS {
            let mut s = MemoryService::new("previews", &format!("pr-{i}-{tier}"), tasks)
                .tag("cost-saver:environment", &format!("pr-{i}"));
            if tier != "worker" {
                s = s.behind(&group(i, tier));
                f.add_target_group(&group(i, tier), true);
            }
            f.add_service(s);
        }
        let priority = |p: usize| u32::try_from(100 * (i + 1) + p).unwrap();
        f.add_rule(&format!("rule-{i}-api"), LB, LISTENER, Some(priority(1)), &host(i), &group(i, "api"));
        f.add_rule(&format!("rule-{i}-web"), LB, LISTENER, Some(priority(2)), &host(i), &group(i, "web"));
        f.edit_rule(&format!("rule-{i}-api"), |r| {
            r.conditions.push(RuleCondition {
                field: "path-pattern".into(),
                header: None,
                values: vec!["/api/*".into()],
                pairs: vec![],
            })
        });
    }
    f
}

#[derive(Debug, Default)]
struct Week {
    task_hours: f64,
    by_app: u32,
    by_waker: u32,
    /// Requests the load balancer sent to a service asleep without its waking rule (a bare 503).
    unanswered: Vec<String>,
    /// The page came from the app, but its API call got the waker's 503 (a broken page).
    broken_pages: u32,
}

/// Where the listener sends `path` on preview `i` now, as `(its target group, behind the waker)`.
fn route(f: &MemoryFleet, i: usize, tier: &str) -> (String, bool) {
    let rule = f.rules().into_iter().find(|r| r.arn == format!("rule-{i}-{tier}")).expect("the rule");
    (rule.forwards_to[0].clone(), crate::routing::forwards_to_waker(&rule))
}

/// One request to preview `i`'s `tier` at `now`: `Some(true)` served by the app, `Some(false)`
/// answered by the waker, `None` unanswered.
async fn request(f: &MemoryFleet, c: &Config, i: usize, tier: &str, now: chrono::DateTime<Utc>) -> Option<bool> {
    let (to, behind_waker) = route(f, i, tier);
    if behind_waker {
        let mut knock = knock_for(&to, &host(i));
        if tier == "api" {
            knock.path = Some("/api/items".into());
            knock.headers.insert("accept", "application/json".parse().unwrap());
        }
        return match decide(c, f, &knock, now, &RecentlyWoken::default(), test_deadline()).await {
            Answer::Waking { .. } => Some(false),
            _ => None,
        };
    }
    if f.service("previews", &format!("pr-{i}-{tier}")).desired > 0 {
        f.record_requests(&to, now, 1);
        Some(true)
    } else {
        None
    }
}

async fn week(c: &Config) -> Week {
    let f = fleet();
    let start = at("2026-11-16T00:00:00Z");
    let step = Duration::minutes(5);
    let mut w = Week::default();
    let mut now = start;
    while now < start + Duration::days(7) {
        let weekday = now.weekday().num_days_from_monday() as usize;
        let workday = now.weekday() != Weekday::Sat && now.weekday() != Weekday::Sun;
        for i in 0..PREVIEWS {
            for tier in ["web", "api"] {
                let running = f.service("previews", &format!("pr-{i}-{tier}")).desired > 0;
                f.set_healthy(&group(i, tier), running);
            }
        }
        for i in 0..PREVIEWS {
            let used_today = workday && (i + weekday).is_multiple_of(3);
            if !(used_today && now.hour() == 10 + (i % 7) as u32 && now.minute() < 30) {
                continue;
            }
            match request(&f, c, i, "web", now).await {
                Some(true) => {
                    w.by_app += 1;
                    // The page the app served calls its API.
                    match request(&f, c, i, "api", now).await {
                        Some(true) => w.by_app += 1,
                        Some(false) => {
                            w.by_waker += 1;
                            w.broken_pages += 1;
                        }
                        None => w.unanswered.push(format!("{now} pr-{i}-api")),
                    }
                }
                Some(false) => w.by_waker += 1,
                None => w.unanswered.push(format!("{now} pr-{i}-web")),
            }
        }
        default_hours_tick(&f, c, now).await;
        let tasks: u32 = (0..PREVIEWS)
            .flat_map(|i| TASKS.map(|(tier, _)| f.service("previews", &format!("pr-{i}-{tier}")).desired))
            .sum();
        w.task_hours += f64::from(tasks) / 12.0;
        now += step;
    }
    w
}

#[tokio::test]
async fn a_week_of_three_service_previews_as_environments_and_service_by_service() {
    let settings = |keys: &'static str| {
        Config::from_lookup(move |k| match k {
            "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
            "WAKE_ON" => Some("visit".into()),
            "IDLE_AFTER" => Some("30m".into()),
            "ENVIRONMENT_TAG_KEYS" => Some(keys.into()),
            _ => None,
        })
        .unwrap()
    };
    let together = week(&settings("cost-saver:environment")).await;
    let apart = week(&settings("none")).await;
    let always_on = f64::from(TASKS.iter().map(|(_, t)| t).sum::<u32>()) * PREVIEWS as f64 * 24.0 * 7.0;
    for (name, w) in [("environments", &together), ("service by service", &apart)] {
        println!(
            "{name}: {:.1} task-hours of {always_on}, {:.1}% saved; {} requests by the apps, {} by the waker, {} unanswered, {} broken pages",
            w.task_hours,
            100.0 * (1.0 - w.task_hours / always_on),
            w.by_app,
            w.by_waker,
            w.unanswered.len(),
            w.broken_pages
        );
    }
    assert!(together.unanswered.is_empty() && apart.unanswered.is_empty(), "{together:?} {apart:?}");
    assert_eq!(together.broken_pages, 0, "the API wakes with the page");
    assert!(apart.broken_pages > 0, "service by service, the first API call meets the waker");
    assert!(together.task_hours < apart.task_hours, "the worker sleeps with its environment");
    assert!(together.by_app > 0 && together.by_waker > 0);
}
