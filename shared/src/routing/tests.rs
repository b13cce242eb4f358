use chrono::{DateTime, Utc};

use super::*;
use crate::config::Config;
use crate::memory::{MemoryFleet, MemoryService};
use crate::plan::{Invocation, Mode};
use crate::run::run;
use crate::summary::Reported;
use crate::waker::{decide, Answer, RecentlyWoken};

const KEY: &str = "cost-saver:wakes";
const OPT_OUT: &str = "cost-saver:wake-on-request";
const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
const WEB_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-101-web/1";
const API_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-102-web/2";
const WEB_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|k| (k == "WAKER_FUNCTION_ARN").then(|| WAKER.to_string())).unwrap()
}

fn inv(mode: Mode, now: &str) -> Invocation {
    Invocation { mode, now: at(now), dry_run: false, force: false }
}

fn rule(arn: &str, priority: Option<u32>, host: &str, to: &str) -> ListenerRule {
    ListenerRule {
        arn: arn.into(),
        listener: LISTENER.into(),
        priority,
        conditions: vec![RuleCondition {
            field: "host-header".into(),
            header: None,
            values: vec![host.into()],
            pairs: vec![],
        }],
        forwards_to: vec![to.into()],
        tags: Default::default(),
        listener_tags: Default::default(),
        unsupported: None,
    }
}

/// A previews ALB: pr-101 at priority 10, pr-102 at 9 (so 10's companion must go to 8), a
/// default rule sending everything else to pr-102.
fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_service(MemoryService::new("previews", "pr-101-web", 2).behind(WEB_TG));
    f.add_service(MemoryService::new("previews", "pr-102-web", 1).tag("cost-saver:keep-alive", "true").behind(API_TG));
    f.add_target_group(WEB_TG, LB, true);
    f.add_target_group(API_TG, LB, true);
    f.add_rule("rule-101", LB, LISTENER, Some(10), "pr-101.previews.example.com", WEB_TG);
    f.add_rule("rule-102", LB, LISTENER, Some(9), "pr-102.previews.example.com", API_TG);
    f.add_rule("rule-default", LB, LISTENER, None, "", API_TG);
    f
}

#[test]
fn companions_take_the_nearest_free_priority_above_and_say_what_they_cannot_cover() {
    let serves = vec![WEB_TG.to_string()];
    let mut rules =
        vec![rule("r10", Some(10), "a", WEB_TG), rule("r9", Some(9), "b", API_TG), rule("r1", Some(1), "c", WEB_TG)];
    rules.push(ListenerRule { priority: None, ..rule("default", None, "", WEB_TG) });
    let mut odd = rule("r20", Some(20), "d", WEB_TG);
    odd.unsupported = Some("a regular expression in its host-header condition".into());
    rules.push(odd);
    let (missing, warnings) = missing_companions(WEB_ARN, &serves, "waking", &rules, KEY, OPT_OUT);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!((missing[0].priority, missing[0].of.as_str()), (8, "r10"));
    assert_eq!(missing[0].conditions, rules[0].conditions);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("no free priority above rule r1"), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("default action")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("regular expression")), "{warnings:?}");

    // Once the companion exists (tagged, same conditions, forwarding to the waking group) it is
    // not asked for again.
    let mut companion = rule("c8", Some(8), "a", "waking");
    companion.tags.insert(KEY.into(), WEB_ARN.into());
    rules.push(companion);
    let (missing, _) = missing_companions(WEB_ARN, &serves, "waking", &rules, KEY, OPT_OUT);
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn waking_group_names_are_stable_valid_and_distinct() {
    let id = |arn: &str| ServiceId::from_arn(arn).unwrap();
    let a = waking_group_name(&id(WEB_ARN));
    assert_eq!(a, waking_group_name(&id(WEB_ARN)));
    assert_eq!(a.len(), 20);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    assert_ne!(a, waking_group_name(&id("arn:aws:ecs:us-east-1:123456789012:service/previews/pr-102-web")));
}

/// Sleep puts a waking rule in front of the service's rule before the count goes to 0; a request
/// wakes it; the routing stays until the target group is healthy, then every rule is exactly as
/// before and the waking group is gone.
#[tokio::test]
async fn a_preview_sleeps_behind_its_waking_rule_and_gets_its_routing_back_when_healthy() {
    let (f, c) = (fleet(), config());
    let before = f.rules();
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 1, "{:?}", down.services);
    let log = f.log();
    let order: Vec<&str> = log.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        order,
        [
            "ecs:TagResource",
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:CreateRule",
            "ecs:UpdateService"
        ],
        "{log:?}"
    );
    let rules = f.rules();
    let companion = rules.iter().find(|r| r.tags.contains_key(KEY)).expect("a waking rule");
    assert_eq!(companion.priority, Some(8));
    assert_eq!(companion.conditions, before.iter().find(|r| r.arn == "rule-101").unwrap().conditions);
    let waking = companion.forwards_to[0].clone();
    assert!(waking.contains(":targetgroup/csw-"), "{waking}");
    assert_eq!(companion.tags[KEY], WEB_ARN);

    // A request routed there wakes the service; the target group is not healthy yet, so the
    // waking page keeps answering.
    f.set_healthy(WEB_TG, false);
    let answer = decide(&c, &f, Some(&waking), at("2026-11-20T21:30:00Z"), &RecentlyWoken::default()).await;
    assert_eq!(answer, Answer::Waking { service: "pr-101-web".into() });
    assert_eq!(f.service("previews", "pr-101-web").desired, 2);
    assert!(f.rules().iter().any(|r| r.tags.contains_key(KEY)), "routing kept until healthy");
    let waiting = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:31:00Z"), None).await.unwrap();
    assert!(waiting.routing.iter().any(|l| l.contains("waiting for a healthy target")), "{:?}", waiting.routing);

    // Healthy: the next request (or reconcile) routes back.
    f.set_healthy(WEB_TG, true);
    decide(&c, &f, Some(&waking), at("2026-11-20T21:32:00Z"), &RecentlyWoken::default()).await;
    assert_eq!(f.rules(), before, "every rule exactly as before");
    assert!(!f.target_groups().contains(&waking), "waking group removed");
}

/// `cost-saver:wake-on-request=false` on a listener keeps that listener's rules as they are: the
/// service still sleeps, its other listeners get waking rules, and the summary says what is not
/// covered.
#[tokio::test]
async fn a_listener_tagged_wake_on_request_false_gets_no_waking_rule() {
    const INTERNAL: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/8443";
    let (f, c) = (fleet(), config());
    f.add_rule("rule-101-internal", LB, INTERNAL, Some(5), "pr-101.internal.example.com", WEB_TG);
    f.tag_listener(INTERNAL, OPT_OUT, "False");
    let before: Vec<ListenerRule> = f.rules().into_iter().filter(|r| r.listener == INTERNAL).collect();
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 1, "{:?}", down.services);
    assert_eq!(f.service("previews", "pr-101-web").desired, 0);
    let steps = &down.services[0].steps;
    assert!(
        steps.iter().any(|s| s.starts_with("not covered: listener")
            && s.contains("opts out")
            && s.contains("rule-101-internal")),
        "{steps:?}"
    );
    let rules = f.rules();
    let companions: Vec<&ListenerRule> = rules.iter().filter(|r| r.tags.contains_key(KEY)).collect();
    assert_eq!(companions.len(), 1, "{companions:?}");
    assert_eq!(companions[0].listener, LISTENER, "only the listener that did not opt out");
    let after: Vec<ListenerRule> = f.rules().into_iter().filter(|r| r.listener == INTERNAL).collect();
    assert_eq!(after, before);
}

/// A listener value nobody can read is read as on services and clusters: `false`, and said.
#[test]
fn an_unreadable_listener_opt_out_counts_as_false_and_true_opts_in() {
    let serves = vec![WEB_TG.to_string()];
    let tagged = |value: &str| {
        let mut r = rule("r10", Some(10), "a", WEB_TG);
        r.listener_tags.insert(OPT_OUT.into(), value.into());
        vec![r]
    };
    let (missing, warnings) = missing_companions(WEB_ARN, &serves, "waking", &tagged("nope"), KEY, OPT_OUT);
    assert!(missing.is_empty(), "{missing:?}");
    assert!(warnings[0].contains("opts out (cost-saver:wake-on-request=nope)"), "{warnings:?}");
    let (missing, warnings) = missing_companions(WEB_ARN, &serves, "waking", &tagged(" TRUE "), KEY, OPT_OUT);
    assert_eq!((missing.len(), warnings.len()), (1, 0), "{warnings:?}");
}

/// A run that dies after any write leaves a state the next run finishes: asleep behind exactly
/// one waking rule, and after the restore every rule exactly as before.
#[tokio::test]
async fn a_crash_after_any_write_converges() {
    let c = config();
    for k in 1..=6 {
        let f = fleet();
        let before = f.rules();
        f.fail_write(k);
        let _ = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
        let web = f.service("previews", "pr-101-web");
        assert_eq!(web.desired, 0, "k={k}: {:?}", f.log());
        let companions: Vec<ListenerRule> = f.rules().into_iter().filter(|r| r.tags.contains_key(KEY)).collect();
        assert_eq!(companions.len(), 1, "k={k}: {companions:?}");

        for j in 1..=4 {
            let g = fleet_like(&f);
            g.fail_write(j);
            let _ = run(&g, &c, inv(Mode::ScaleUp, "2026-11-23T09:00:00Z"), None).await.unwrap();
            run(&g, &c, inv(Mode::Reconcile, "2026-11-23T09:15:00Z"), None).await.unwrap();
            assert_eq!(g.rules(), before, "k={k} j={j}: {:?}", g.log());
            assert_eq!(g.target_groups().len(), 2, "k={k} j={j}: waking group left: {:?}", g.target_groups());
            assert_eq!(g.service("previews", "pr-101-web").desired, 2);
        }
    }
}

/// The state of `f` replayed into a fresh fleet: sleeping pr-101 behind its routing.
fn fleet_like(f: &MemoryFleet) -> MemoryFleet {
    let g = fleet();
    g.edit("previews", "pr-101-web", |s| *s = f.service("previews", "pr-101-web"));
    for r in f.rules().into_iter().filter(|r| r.tags.contains_key(KEY)) {
        g.add_tagged_target_group(&r.forwards_to[0], &[(KEY, WEB_ARN)]);
        g.add_rule_as_is(r);
    }
    g
}

/// Overlapping runs never leave a sleeping service without its waking rule, nor an awake and
/// healthy one behind it once a restoring run has passed: 2,000 seeded interleavings of a sleep
/// racing a restore (or another sleep), every call delayed a random number of turns.
#[tokio::test]
async fn overlapping_runs_leave_routing_consistent() {
    let c = config();
    let runs = [
        (Mode::ScaleDown, "2026-11-20T21:00:00Z"),
        (Mode::Reconcile, "2026-11-20T21:00:00Z"),
        (Mode::ScaleUp, "2026-11-23T09:00:00Z"),
        (Mode::Reconcile, "2026-11-23T09:00:00Z"),
    ];
    for seed in 0..2_000u64 {
        let f = fleet();
        let before = f.rules();
        if seed % 2 == 0 {
            run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        }
        let (a, b) = (runs[(seed / 2 % 4) as usize], runs[(seed / 8 % 4) as usize]);
        f.interleave_randomly(seed);
        let _ = tokio::join!(run(&f, &c, inv(a.0, a.1), None), run(&f, &c, inv(b.0, b.1), None));

        let web = f.service("previews", "pr-101-web");
        let companions: Vec<ListenerRule> = f.rules().into_iter().filter(|r| r.tags.contains_key(KEY)).collect();
        if web.tags.contains_key("cost-saver:saved") && web.desired == 0 {
            assert_eq!(
                companions.len(),
                1,
                "seed {seed} ({a:?} + {b:?}): asleep without its waking rule: {:?}",
                f.log()
            );
            assert!(f.target_groups().contains(&companions[0].forwards_to[0]), "seed {seed}: rule to a deleted group");
        }
        // A restoring run afterwards routes an awake, healthy service back completely.
        run(&f, &c, inv(Mode::Reconcile, "2026-11-23T10:00:00Z"), None).await.unwrap();
        assert_eq!(f.rules(), before, "seed {seed} ({a:?} + {b:?}): {:?}", f.log());
        assert_eq!(f.target_groups().len(), 2, "seed {seed} ({a:?} + {b:?}): {:?}", f.target_groups());
    }
}

/// `cost-saver:wake-on-request=false` on the service or its cluster: its rules are left alone
/// while it sleeps, and it is never idle-slept (nothing could wake it by a request).
#[tokio::test]
async fn a_service_or_cluster_can_opt_out_of_the_waking_routing() {
    let c = config();
    for on_cluster in [false, true] {
        let f = fleet();
        let before = f.rules();
        if on_cluster {
            f.add_cluster("previews", &[("Environment", "preview"), ("cost-saver:wake-on-request", "false")]);
        } else {
            f.edit("previews", "pr-101-web", |s| {
                s.tags.insert("cost-saver:wake-on-request".into(), "false".into());
            });
        }
        let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        assert_eq!(down.count(Reported::ScaledDown), 1);
        assert_eq!(f.rules(), before, "on cluster: {on_cluster}");
        assert_eq!(f.target_groups().len(), 2);
    }
    let f = fleet();
    f.edit("previews", "pr-101-web", |s| {
        s.tags.insert("cost-saver:wake-on-request".into(), "maybe".into());
    });
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert!(down.services[0].warnings.iter().any(|w| w.contains("unreadable cost-saver:wake-on-request")));
    assert!(f.rules().iter().all(|r| !r.tags.contains_key(KEY)));
}
