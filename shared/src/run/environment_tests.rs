//! Issue 19: environments. A preview of a web front end and an API behind one load balancer and a
//! worker without one wakes, stays awake and idle-sleeps as one; a service in no environment is
//! planned exactly as before.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::*;
use crate::cost::TaskSize;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, RuleCondition, Suspension};
use crate::summary::Reported;
use crate::wake::{parse_wake, wake, WakeError};
use crate::waker::{decide, Answer, RecentlyWoken};

pub(crate) const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
pub(crate) const HOST: &str = "pr-101.previews.example.com";
pub(crate) const MEMBERS: [&str; 3] = ["pr-101-web", "pr-101-api", "pr-101-worker"];
pub(crate) const API_BOUNDS: Bounds = Bounds { min: 1, max: 4, suspended: Suspension::NONE };
pub(crate) const FRIDAY_EVENING: &str = "2026-11-20T20:00:00Z";
const FRIDAY_11: &str = "2026-11-20T11:00:00Z";
const ENV: &str = "cost-saver:environment";
const KEEP: &str = "cost-saver:keep-alive";
const SAVED: &str = "cost-saver:saved";

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) fn inv(mode: Mode, now: &str) -> Invocation {
    Invocation { mode, now: at(now), dry_run: false, force: false }
}

pub(crate) fn config(extra: &[(&str, &str)]) -> Config {
    let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(move |k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "WAKE_ON" => Some("visit".to_string()),
        _ => extra.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()),
    })
    .unwrap()
}

pub(crate) fn group(name: &str) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/1")
}

/// `pr-101`: web on its host, api on the same host's `/api/*`, a worker with no load balancer;
/// `pr-202`: one web service of its own environment; `solo`: a service in no environment.
pub(crate) fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_task_definition(
        "td-small",
        TaskSize { vcpu: 0.25, memory_gb: 0.5, arch: crate::cost::Arch::X86_64, linux: true },
    );
    let member =
        |name: &str, desired: u32| MemoryService::new("previews", name, desired).tag(ENV, "pr-101").runs("td-small");
    f.add_service(member("pr-101-web", 2).behind(&group("pr-101-web")));
    f.add_service(member("pr-101-api", 3).behind(&group("pr-101-api")).autoscaled(API_BOUNDS));
    f.add_service(member("pr-101-worker", 1));
    f.add_service(MemoryService::new("previews", "pr-202-web", 1).tag(ENV, "pr-202").behind(&group("pr-202-web")));
    f.add_service(MemoryService::new("previews", "solo", 1));
    for (i, name) in ["pr-101-web", "pr-101-api", "pr-202-web"].into_iter().enumerate() {
        f.add_target_group(&group(name), true);
        let host = if name == "pr-202-web" { "pr-202.previews.example.com" } else { HOST };
        f.add_rule(&format!("rule-{name}"), LB, LISTENER, Some(10 * (3 - i as u32)), host, &group(name));
    }
    // The API's rule also asks for its path, and comes before the web's catch-all for the host.
    f.edit_rule("rule-pr-101-api", |r| {
        r.conditions.push(RuleCondition {
            field: "path-pattern".into(),
            header: None,
            values: vec!["/api/*".into()],
            pairs: vec![],
        })
    });
    f
}

/// The waking group a sleeping service's rule forwards to.
pub(crate) fn waking_group(f: &MemoryFleet, service: &str) -> Option<String> {
    f.rules()
        .into_iter()
        .find(|r| {
            crate::routing::forwards_to_waker(r)
                && r.tags.get("cost-saver:wakes").is_some_and(|v| v.ends_with(&format!("/{service}")))
        })
        .map(|r| r.forwards_to[0].clone())
}

/// A browser's request to the web host, through the waking group, at `now`.
pub(crate) async fn visit(f: &MemoryFleet, c: &Config, now: &str, recent: &RecentlyWoken) -> Answer {
    let Some(waking) = waking_group(f, "pr-101-web") else {
        return Answer::Refused { why: "web is not behind the waker".into() };
    };
    decide(c, f, &crate::waker::knock_for(&waking, HOST), at(now), recent, crate::waker::test_deadline()).await
}

fn desired(f: &MemoryFleet) -> Vec<u32> {
    MEMBERS.iter().map(|m| f.service("previews", m).desired).collect()
}

fn report<'a>(s: &'a Summary, service: &str) -> &'a crate::summary::ServiceReport {
    s.services.iter().find(|r| r.service == service).unwrap()
}

#[tokio::test]
async fn one_request_to_the_web_host_wakes_every_member_with_the_same_keep_alive() {
    let (f, c) = (fleet(), config(&[]));
    let down = run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    assert_eq!(desired(&f), [0, 0, 0]);
    assert_eq!(report(&down, "pr-101-worker").environment.as_deref(), Some("pr-101"));
    assert_eq!(report(&down, "solo").environment, None);

    let answer = visit(&f, &c, "2026-11-20T21:03:00Z", &RecentlyWoken::default()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
    assert_eq!(desired(&f), [2, 3, 1], "every member restored");
    assert_eq!(f.service("previews", "pr-101-api").scaling, Some(API_BOUNDS));
    let keeps: Vec<String> = MEMBERS.iter().map(|m| f.service("previews", m).tags[KEEP].clone()).collect();
    assert_eq!(keeps, ["2026-11-20T22:10:00Z"; 3], "one keep-alive for all");
    assert_eq!(f.service("previews", "pr-202-web").desired, 0, "another environment stays asleep");
    assert!(MEMBERS.iter().all(|m| !f.service("previews", m).tags.contains_key(SAVED)));
}

#[tokio::test]
async fn wake_by_a_member_or_by_the_environment_wakes_them_all_and_leaves_protected_ones_alone() {
    let c = config(&[]);
    let clock = at("2026-11-20T21:00:00Z");
    for payload in [
        json!({"cluster": "previews", "service": "pr-101-worker", "hours": 2}),
        json!({"environment": "pr-101", "hours": 2}),
    ] {
        let f = fleet();
        run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
        // Added after the evening (a protected member holds its environment awake: tested below).
        f.add_service(MemoryService::new("previews", "pr-101-db", 1).tag(ENV, "pr-101").tag("Environment", "prod"));
        let req = parse_wake(&payload, clock, &c).unwrap();
        let report = wake(&f, &c, &req, None).await.unwrap();
        assert_eq!(desired(&f), [2, 3, 1], "{payload}");
        let mut kept: Vec<(&str, &str)> =
            report.kept_alive.iter().map(|k| (k.service.as_str(), k.until.as_str())).collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                ("pr-101-api", "2026-11-20T23:00:00Z"),
                ("pr-101-web", "2026-11-20T23:00:00Z"),
                ("pr-101-worker", "2026-11-20T23:00:00Z")
            ],
            "{payload}: the protected member is not written"
        );
        assert_eq!(report.summary.count(Reported::Restored), 3, "{payload}: {:?}", report.summary.counts);
        assert!(!f.service("previews", "pr-101-db").tags.contains_key(KEEP));
        assert_eq!(f.service("previews", "pr-202-web").desired, 0);
    }
    let f = fleet();
    let req = parse_wake(&json!({"environment": "pr-404", "hours": 1}), clock, &c).unwrap();
    match wake(&f, &c, &req, None).await {
        Err(WakeError::NotFound(what)) => assert!(what[0].contains("environment pr-404"), "{what:?}"),
        other => panic!("{other:?}"),
    }
    let both = parse_wake(&json!({"environment": "pr-101", "cluster": "previews", "hours": 1}), clock, &c);
    assert!(both.unwrap_err().to_string().contains("either `environment`"));
    let off = config(&[("ENVIRONMENT_TAG_KEYS", "none")]);
    let refused = parse_wake(&json!({"environment": "pr-101", "hours": 1}), clock, &off).unwrap_err();
    assert!(refused.to_string().contains("ENVIRONMENT_TAG_KEYS=none"), "{refused}");
}

#[tokio::test]
async fn wake_after_restores_a_member_once_the_one_it_needs_runs() {
    let c = config(&[]);
    let f = fleet();
    f.edit("previews", "pr-101-worker", |s| {
        s.tags.insert("cost-saver:wake-after".into(), "pr-101-api".into());
    });
    run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    f.edit("previews", "pr-101-api", |s| s.running = Some(0));
    let req = parse_wake(&json!({"environment": "pr-101", "hours": 2}), at("2026-11-20T21:00:00Z"), &c).unwrap();
    let first = wake(&f, &c, &req, None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 0], "the worker waits while the API starts");
    let worker = report(&first.summary, "pr-101-worker");
    assert_eq!(worker.action, Reported::Skipped);
    assert!(worker.reason.contains("waits for pr-101-api to have a running task"), "{}", worker.reason);
    assert!(f.service("previews", "pr-101-worker").tags.contains_key(KEEP), "its keep-alive is written");

    // Still starting at the next reconcile: still waiting.
    run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 0]);
    f.edit("previews", "pr-101-api", |s| s.running = Some(1));
    let next = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:30:00Z"), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 1], "restored once the API has a running task");
    assert_eq!(report(&next, "pr-101-worker").action, Reported::Restored);

    // A cycle, or a name that is no member, is reported and ignored.
    for (api_after, worker_after, needle) in [
        (Some("pr-101-worker"), "pr-101-api", "makes a cycle (pr-101-worker -> pr-101-api -> pr-101-worker)"),
        (None, "pr-101-cache", "names no member of environment pr-101"),
    ] {
        let f = fleet();
        f.edit("previews", "pr-101-worker", |s| {
            s.tags.insert("cost-saver:wake-after".into(), worker_after.into());
            s.running = Some(0);
        });
        f.edit("previews", "pr-101-api", |s| {
            if let Some(v) = api_after {
                s.tags.insert("cost-saver:wake-after".into(), v.into());
            }
            s.running = Some(0);
        });
        run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
        let report = wake(&f, &c, &req, None).await.unwrap();
        assert_eq!(desired(&f), [2, 3, 1], "{needle}");
        let worker = report.summary.services.iter().find(|r| r.service == "pr-101-worker").unwrap();
        assert!(worker.warnings.iter().any(|w| w.contains(needle)), "{:?}", worker.warnings);
    }
}

#[tokio::test]
async fn an_idle_environment_sleeps_as_one_and_a_request_to_any_member_keeps_it_awake() {
    let c = config(&[("IDLE_AFTER", "30m")]);
    let f = fleet();
    f.add_service(MemoryService::new("previews", "pr-303-a", 1).tag(ENV, "pr-303"));
    f.add_service(MemoryService::new("previews", "pr-303-b", 1).tag(ENV, "pr-303"));
    // The API served a request 20 minutes ago: nobody sleeps.
    f.record_requests(&group("pr-101-api"), at(FRIDAY_11) - Duration::minutes(20), 1);
    let busy = run(&f, &c, inv(Mode::Reconcile, FRIDAY_11), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 1], "{:?}", busy.services);
    assert_eq!(f.service("previews", "pr-202-web").desired, 0, "pr-202 alone is idle");

    let later = at(FRIDAY_11) + Duration::minutes(45);
    let quiet = run(&f, &c, Invocation { now: later, ..inv(Mode::Reconcile, FRIDAY_11) }, None).await.unwrap();
    assert_eq!(desired(&f), [0, 0, 0], "the worker sleeps with the rest");
    let worker = report(&quiet, "pr-101-worker");
    assert_eq!(
        worker.reason,
        "environment pr-101 idle for 30 min: no request through pr-101-api, pr-101-web (idle-after 30m)"
    );
    assert!(worker.idle, "an idle sleep");
    let pr303: Vec<u32> = ["pr-303-a", "pr-303-b"].iter().map(|s| f.service("previews", s).desired).collect();
    assert_eq!(pr303, [1, 1], "an environment with no load balancer is never idle-slept");

    // In working hours the worker waits for the request that wakes the environment.
    let next = run(&f, &c, Invocation { now: later + Duration::minutes(15), ..inv(Mode::Reconcile, FRIDAY_11) }, None)
        .await
        .unwrap();
    assert_eq!(desired(&f), [0, 0, 0], "{:?}", report(&next, "pr-101-worker"));
    assert!(report(&next, "pr-101-worker").reason.contains("wakes on its next request"));
    let answer = visit(&f, &c, "2026-11-20T12:05:00Z", &RecentlyWoken::default()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
    assert_eq!(desired(&f), [2, 3, 1]);
}

#[tokio::test]
async fn a_keep_alive_or_a_hold_on_one_member_keeps_the_whole_environment_awake() {
    let c = config(&[]);
    let f = fleet();
    f.edit("previews", "pr-101-worker", |s| {
        s.tags.insert(KEEP.into(), "2026-11-20T23:00:00Z".into());
    });
    let down = run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 1]);
    assert_eq!(
        report(&down, "pr-101-web").reason,
        "keep-alive on pr-101-worker (environment pr-101) until 2026-11-20T23:00:00Z"
    );
    assert_eq!(f.service("previews", "pr-202-web").desired, 0);
    run(&f, &c, inv(Mode::Reconcile, "2026-11-20T23:15:00Z"), None).await.unwrap();
    assert_eq!(desired(&f), [0, 0, 0], "asleep once it expires");

    // A keep-alive put on one sleeping member wakes all of them at the next reconcile.
    f.edit("previews", "pr-101-api", |s| {
        s.tags.insert(KEEP.into(), "2026-11-21T02:00:00Z".into());
    });
    run(&f, &c, inv(Mode::Reconcile, "2026-11-20T23:30:00Z"), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 1]);

    // A member with an `always` schedule, or within its grace period, holds the others.
    for (tag, value, deployed, needle) in [
        ("cost-saver:schedule", "always", None, "held awake by pr-101-api: its schedule is `always`"),
        ("team", "api", Some("2026-11-20T19:55:00Z"), "held awake by pr-101-api: deployed at 2026-11-20T19:55:00Z"),
        ("Environment", "prod", None, "held awake by pr-101-api: protected (Environment=prod on the service)"),
    ] {
        let f = fleet();
        f.edit("previews", "pr-101-api", |s| {
            s.tags.insert(tag.into(), value.into());
            s.last_deployed_at = deployed.map(at);
        });
        let down = run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
        assert_eq!(desired(&f), [2, 3, 1], "{needle}");
        assert!(
            report(&down, "pr-101-worker").reason.starts_with(&format!("environment pr-101 {needle}")),
            "{}",
            report(&down, "pr-101-worker").reason
        );
    }
}

/// `force` ignores schedules: an `always` member (here every member, by `DEFAULT_SCHEDULE`) holds
/// nobody, while a keep-alive on one still holds them all.
#[tokio::test]
async fn force_ignores_an_always_member_but_not_a_keep_alive() {
    let c = config(&[("DEFAULT_SCHEDULE", "always")]);
    let forced = Invocation { force: true, ..inv(Mode::ScaleDown, FRIDAY_11) };
    let f = fleet();
    let down = run(&f, &c, forced, None).await.unwrap();
    assert_eq!(desired(&f), [0, 0, 0], "{:?}", down.services);
    let f = fleet();
    f.edit("previews", "pr-101-api", |s| {
        s.tags.insert(KEEP.into(), "2026-11-20T23:00:00Z".into());
    });
    run(&f, &c, forced, None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 1], "the keep-alive holds under force");
}

#[tokio::test]
async fn members_sleep_by_their_own_schedules() {
    let c = config(&[]);
    let f = fleet();
    f.edit("previews", "pr-101-worker", |s| {
        s.tags.insert("cost-saver:schedule".into(), "Mon-Fri 08:00-18:00".into());
    });
    run(&f, &c, inv(Mode::Reconcile, "2026-11-20T18:15:00Z"), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 0], "the worker's day ends at 18:00, the others' at 20:00");
    run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    assert_eq!(desired(&f), [0, 0, 0]);
    run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T08:00:00Z"), None).await.unwrap();
    assert_eq!(desired(&f), [2, 3, 1]);
}

#[tokio::test]
async fn an_environment_spread_over_two_clusters_wakes_as_one() {
    let c = config(&[]);
    let f = fleet();
    f.add_cluster("workers", &[("Environment", "preview"), (ENV, "pr-101")]);
    f.add_service(MemoryService::new("workers", "pr-101-mailer", 2));
    run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    assert_eq!(f.service("workers", "pr-101-mailer").desired, 0);
    visit(&f, &c, "2026-11-20T21:00:00Z", &RecentlyWoken::default()).await;
    assert_eq!(desired(&f), [2, 3, 1]);
    assert_eq!(f.service("workers", "pr-101-mailer").desired, 2, "its cluster's key makes it a member");
}

/// Services in no environment get exactly the plans they got before environments existed.
#[tokio::test]
async fn a_service_in_no_environment_is_planned_exactly_as_before() {
    let with = config(&[("IDLE_AFTER", "30m")]);
    let without = config(&[("IDLE_AFTER", "30m"), ("ENVIRONMENT_TAG_KEYS", "none")]);
    let f = fleet();
    f.add_service(MemoryService::new("previews", "kept", 2).tag(KEEP, "2026-11-21T02:00:00Z"));
    f.add_service(MemoryService::new("previews", "always", 2).tag("cost-saver:schedule", "always"));
    f.add_service(MemoryService::new("previews", "asleep", 0).tag(SAVED, "desired=2 at=2026-11-20T20:00:00Z"));
    let lone = ["solo", "kept", "always", "asleep", "pr-202-web"];
    for (mode, now) in [
        (Mode::ScaleDown, FRIDAY_EVENING),
        (Mode::Reconcile, FRIDAY_11),
        (Mode::Reconcile, "2026-11-21T03:00:00Z"),
        (Mode::ScaleUp, "2026-11-23T08:00:00Z"),
    ] {
        let mut services = f.observe(&fleet_query(&with, &inv(mode, now))).await.unwrap().services;
        complete(&f, &mut services, &with, inv(mode, now), &mut vec![], Purpose::Plan).await.unwrap();
        let strip = |p: crate::plan::Plan| -> Vec<_> {
            p.entries
                .into_iter()
                .filter(|e| lone.contains(&e.id.name.as_str()))
                .map(|e| (e.id, e.action, e.reason, e.to, e.warnings))
                .collect()
        };
        let a = strip(plan(&services, &with, inv(mode, now)));
        assert_eq!(a, strip(plan(&services, &without, inv(mode, now))), "{mode:?} {now}");
        // `scale-up` sees only the sleeping ones.
        assert_eq!(a.len(), if mode == Mode::ScaleUp { 1 } else { lone.len() }, "{mode:?} {now}");
    }
}

#[tokio::test]
async fn summaries_name_the_environment_and_roll_savings_up_per_environment() {
    let (f, c) = (fleet(), config(&[]));
    let down = run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    let json = serde_json::to_value(&down).unwrap();
    let web = json["services"].as_array().unwrap().iter().find(|s| s["service"] == "pr-101-web").unwrap();
    assert_eq!(web["environment"], "pr-101");
    let by_env = &json["savings"]["by_environment"];
    assert_eq!(by_env[0]["environment"], "pr-101");
    assert_eq!((by_env[0]["asleep_services"].as_u64(), by_env[0]["asleep_tasks"].as_u64()), (Some(3), Some(6)));
    // Six 0.25 vCPU / 0.5 GB x86 tasks at us-east-1's prices.
    let hourly = 6.0 * (0.25 * 0.04048 + 0.5 * 0.004445);
    assert!((by_env[0]["hourly_usd_avoided"].as_f64().unwrap() - hourly).abs() < 0.0001, "{by_env}");
    assert_eq!(by_env[1]["environment"], "pr-202");
    assert_eq!(by_env.as_array().unwrap().len(), 2, "services in no environment are in the totals only");
    assert_eq!(json["savings"]["asleep_services"], 5);
}
