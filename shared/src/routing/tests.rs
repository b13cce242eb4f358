use chrono::{DateTime, Utc};

use super::*;
use crate::config::Config;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Forward, RuleCondition};
use crate::plan::{Invocation, Mode};
use crate::run::run;
use crate::summary::Reported;
use crate::waker::{decide, knock_for, test_deadline, RecentlyWoken};

const KEY: &str = "cost-saver:wakes";
const OPT_OUT: &str = "cost-saver:wake-on-request";
const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
const WEB_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-101-web/1";
const API_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-102-web/2";
const WEB_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web";
const WEB_HOST: &str = "pr-101.previews.example.com";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|k| (k == "WAKER_FUNCTION_ARN").then(|| WAKER.to_string())).unwrap()
}

fn routing(c: &Config) -> Routing<'_> {
    c.routing().unwrap()
}

fn inv(mode: Mode, now: &str) -> Invocation {
    Invocation { mode, now: at(now), dry_run: false, force: false }
}

fn rule(arn: &str, priority: Option<u32>, host: &str, to: &str) -> ListenerRule {
    ListenerRule {
        arn: arn.into(),
        listener: LISTENER.into(),
        load_balancer: LB.into(),
        port: Some(443),
        priority,
        conditions: vec![RuleCondition {
            field: "host-header".into(),
            header: None,
            values: vec![host.into()],
            pairs: vec![],
        }],
        forwards_to: vec![to.into()],
        forward: Some(Forward::to(to)),
        tags: Default::default(),
        listener_tags: Default::default(),
        unsupported: None,
    }
}

/// A previews ALB: pr-101 at priority 10, pr-102 at 9, a default rule sending everything else
/// to pr-102.
fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_service(MemoryService::new("previews", "pr-101-web", 2).behind(WEB_TG));
    f.add_service(MemoryService::new("previews", "pr-102-web", 1).tag("cost-saver:keep-alive", "true").behind(API_TG));
    f.add_target_group(WEB_TG, true);
    f.add_target_group(API_TG, true);
    f.add_rule("rule-101", LB, LISTENER, Some(10), WEB_HOST, WEB_TG);
    f.add_rule("rule-102", LB, LISTENER, Some(9), "pr-102.previews.example.com", API_TG);
    f.add_rule("rule-default", LB, LISTENER, None, "", API_TG);
    f
}

/// The rules swapped to the waker now.
fn ours(f: &MemoryFleet) -> Vec<ListenerRule> {
    f.rules().into_iter().filter(|r| r.tags.contains_key(KEY) && forwards_to_waker(r)).collect()
}

/// The rules as the load balancer routes by them: the tool's own tags (which stay on a rule put
/// back, describing it) left out.
fn routing_of(rules: Vec<ListenerRule>) -> Vec<ListenerRule> {
    rules
        .into_iter()
        .map(|mut r| {
            r.tags.retain(|k, _| !k.starts_with(KEY));
            r
        })
        .collect()
}

#[test]
fn the_survey_swaps_what_can_be_put_back_and_says_what_cannot() {
    let c = config();
    let serves = vec![WEB_TG.to_string()];
    let mut rules = vec![rule("r10", Some(10), "a", WEB_TG), rule("r9", Some(9), "b", API_TG)];
    rules.push(ListenerRule { priority: None, ..rule("default", None, "", WEB_TG) });
    let mut regex = rule("r20", Some(20), "d", WEB_TG);
    regex.unsupported = Some("a regular expression in its host-header condition".into());
    let mut auth = rule("r30", Some(30), "e", WEB_TG);
    auth.forward = None;
    let mut weighted = rule("r40", Some(40), "f", WEB_TG);
    weighted.forwards_to = vec![API_TG.into(), WEB_TG.into()];
    let shared_rule = rule("r50", Some(50), "g", "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shared/5");
    rules.extend([regex, auth, weighted, shared_rule]);
    let mut serves_shared = serves.clone();
    serves_shared.push("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shared/5".into());
    let shared: BTreeSet<String> = ["arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shared/5".to_string()].into();
    let found = survey(WEB_ARN, &serves_shared, &shared, &rules, routing(&c));
    assert_eq!(found.to_swap.iter().map(|r| r.arn.as_str()).collect::<Vec<_>>(), ["r10"]);
    let w = found.warnings.join("\n");
    for needle in ["default action", "regular expression", "does more than forward", "also forwards to", "is shared"] {
        assert!(w.contains(needle), "{needle}: {w}");
    }
    assert_eq!(found.warnings.len(), 5, "{w}");
}

#[test]
fn waking_group_names_are_stable_valid_and_one_per_load_balancer() {
    let name = waking_group_name(LB);
    assert_eq!(name, waking_group_name(LB));
    assert!(name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{name}");
    assert_ne!(name, waking_group_name(&LB.replace("/1", "/2")));
}

/// Sleep swaps the service's rule to the load balancer's waking group before the count goes to
/// 0 (its forward saved in the rule's tags first); a request wakes it; the routing stays until
/// the target group is healthy, then every rule is exactly as before and the waking group goes.
#[tokio::test]
async fn a_preview_sleeps_behind_its_swapped_rule_and_gets_it_back_exactly_when_healthy() {
    let (f, c) = (fleet(), config());
    let before = routing_of(f.rules());
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
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:ModifyRule",
            "ecs:UpdateService"
        ],
        "{log:?}"
    );
    assert_eq!(f.rules().len(), before.len(), "no rule added");
    let swapped = ours(&f);
    assert_eq!(swapped.len(), 1);
    assert_eq!((swapped[0].arn.as_str(), swapped[0].priority), ("rule-101", Some(10)));
    assert_eq!(swapped[0].tags[KEY], WEB_ARN);
    assert_eq!(swapped[0].tags[&format!("{KEY}-forward")], WEB_TG, "the original forward, readable");
    let waking = swapped[0].forwards_to[0].clone();
    assert!(waking.contains(&format!(":targetgroup/{}/", waking_group_name(LB))), "{waking}");

    // A request through it wakes the service; not healthy yet, so the page keeps answering.
    f.set_healthy(WEB_TG, false);
    let knock = knock_for(&waking, WEB_HOST);
    let answer = decide(&c, &f, &knock, at("2026-11-20T21:30:00Z"), &RecentlyWoken::default(), test_deadline()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
    assert_eq!(f.service("previews", "pr-101-web").desired, 2);
    assert_eq!(ours(&f).len(), 1, "routing kept until healthy");
    let waiting = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:31:00Z"), None).await.unwrap();
    assert!(waiting.routing.iter().any(|l| l.contains("waiting for a healthy target")), "{:?}", waiting.routing);

    // Healthy: the next request routes back, the next reconcile removes the unused group.
    f.set_healthy(WEB_TG, true);
    decide(&c, &f, &knock, at("2026-11-20T21:32:00Z"), &RecentlyWoken::default(), test_deadline()).await;
    assert_eq!(routing_of(f.rules()), before, "every rule exactly as before");
    run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:45:00Z"), None).await.unwrap();
    assert!(!f.target_groups().contains(&waking), "waking group removed");
}

/// `cost-saver:wake-on-request=false` on a listener keeps that listener's rules as they are: the
/// service still sleeps, its other listeners' rules are swapped, and the summary says what is
/// not covered. A value nobody can read counts as `false`, ` TRUE ` as true.
#[tokio::test]
async fn a_listener_tagged_wake_on_request_false_keeps_its_rules() {
    const INTERNAL: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/8443";
    for (value, covered) in [("False", false), ("nope", false), (" TRUE ", true)] {
        let (f, c) = (fleet(), config());
        f.add_rule("rule-101-internal", LB, INTERNAL, Some(5), "pr-101.internal.example.com", WEB_TG);
        f.tag_listener(INTERNAL, OPT_OUT, value);
        let before: Vec<ListenerRule> = routing_of(f.rules()).into_iter().filter(|r| r.listener == INTERNAL).collect();
        let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        assert_eq!(down.count(Reported::ScaledDown), 1, "{:?}", down.services);
        let steps = &down.services[0].steps;
        let said = steps.iter().any(|s| s.starts_with("not covered: listener") && s.contains("opts out"));
        assert_eq!(said, !covered, "{value}: {steps:?}");
        let after: Vec<ListenerRule> = routing_of(f.rules()).into_iter().filter(|r| r.listener == INTERNAL).collect();
        assert_eq!(after == before, !covered, "{value}");
        assert!(ours(&f).iter().any(|r| r.listener == LISTENER), "{value}: the other listener is swapped");
    }
}

/// A run that dies after any write leaves a state the next run finishes: asleep behind its
/// swapped rule, and after the restore every rule exactly as before, the waking group gone.
#[tokio::test]
async fn a_crash_after_any_write_converges() {
    let c = config();
    for k in 1..=6 {
        let f = fleet();
        let before = routing_of(f.rules());
        f.fail_write(k);
        let _ = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
        assert_eq!(f.service("previews", "pr-101-web").desired, 0, "k={k}: {:?}", f.log());
        assert_eq!(ours(&f).len(), 1, "k={k}: {:?}", f.log());
        assert!(forwards_to_waker(&ours(&f)[0]), "k={k}");

        for j in 1..=4 {
            let g = fleet_like(&f);
            g.fail_write(j);
            let _ = run(&g, &c, inv(Mode::ScaleUp, "2026-11-23T09:00:00Z"), None).await.unwrap();
            run(&g, &c, inv(Mode::Reconcile, "2026-11-23T09:15:00Z"), None).await.unwrap();
            run(&g, &c, inv(Mode::Reconcile, "2026-11-23T09:30:00Z"), None).await.unwrap();
            assert_eq!(routing_of(g.rules()), before, "k={k} j={j}: {:?}", g.log());
            assert_eq!(g.target_groups().len(), 2, "k={k} j={j}: waking group left: {:?}", g.target_groups());
            assert_eq!(g.service("previews", "pr-101-web").desired, 2);
        }
    }
}

/// The state of `f` replayed into a fresh fleet: sleeping pr-101 behind its routing.
fn fleet_like(f: &MemoryFleet) -> MemoryFleet {
    let g = fleet();
    g.edit("previews", "pr-101-web", |s| *s = f.service("previews", "pr-101-web"));
    for group in f.target_groups().into_iter().filter(|t| is_waking_group(t)) {
        let tags = f.target_group_tags(&group);
        let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        g.add_tagged_target_group(&group, &pairs);
    }
    for r in ours(f) {
        g.add_rule_as_is(r);
    }
    g
}

/// Overlapping runs never leave a sleeping service without its swapped rule, nor an awake and
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
        let before = routing_of(f.rules());
        if seed % 2 == 0 {
            run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        }
        let (a, b) = (runs[(seed / 2 % 4) as usize], runs[(seed / 8 % 4) as usize]);
        f.interleave_randomly(seed);
        let _ = tokio::join!(run(&f, &c, inv(a.0, a.1), None), run(&f, &c, inv(b.0, b.1), None));

        let web = f.service("previews", "pr-101-web");
        if web.tags.contains_key("cost-saver:saved") && web.desired == 0 {
            let swapped = ours(&f);
            assert_eq!(swapped.len(), 1, "seed {seed} ({a:?} + {b:?}): asleep without its rule swapped: {:?}", f.log());
            assert!(forwards_to_waker(&swapped[0]), "seed {seed}: {swapped:?}");
            assert!(f.target_groups().contains(&swapped[0].forwards_to[0]), "seed {seed}: rule to a deleted group");
        }
        // Restoring runs afterwards route an awake, healthy service back completely.
        run(&f, &c, inv(Mode::Reconcile, "2026-11-23T10:00:00Z"), None).await.unwrap();
        run(&f, &c, inv(Mode::Reconcile, "2026-11-23T10:15:00Z"), None).await.unwrap();
        assert_eq!(routing_of(f.rules()), before, "seed {seed} ({a:?} + {b:?}): {:?}", f.log());
        assert_eq!(f.target_groups().len(), 2, "seed {seed} ({a:?} + {b:?}): {:?}", f.target_groups());
    }
}

/// `cost-saver:wake-on-request=false` on the service or its cluster: its rules are left alone
/// while it sleeps.
#[tokio::test]
async fn a_service_or_cluster_can_opt_out_of_the_waking_routing() {
    let c = config();
    for on_cluster in [false, true] {
        let f = fleet();
        let before = routing_of(f.rules());
        if on_cluster {
            f.add_cluster("previews", &[("Environment", "preview"), ("cost-saver:wake-on-request", "false")]);
        } else {
            f.edit("previews", "pr-101-web", |s| {
                s.tags.insert("cost-saver:wake-on-request".into(), "false".into());
            });
        }
        let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        assert_eq!(down.count(Reported::ScaledDown), 1);
        assert_eq!(routing_of(f.rules()), before, "on cluster: {on_cluster}");
        assert_eq!(f.target_groups().len(), 2);
    }
}

fn shared_alb(n: usize) -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    for i in 0..n {
        let tg = format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-{i}/{i:04}");
        f.add_service(MemoryService::new("previews", &format!("pr-{i}"), 1).behind(&tg));
        f.add_target_group(&tg, true);
        let priority = u32::try_from(i + 1).unwrap();
        f.add_rule(&format!("rule-{i}"), LB, LISTENER, Some(priority), &format!("pr-{i}.example.com"), &tg);
    }
    f.add_rule(
        "rule-default",
        LB,
        LISTENER,
        None,
        "",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/home/ffff",
    );
    f.add_target_group("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/home/ffff", true);
    f
}

/// Issue 17, item 3: each sleeping service used to add a rule and a target group, so a shared
/// preview ALB (100 rules, 100 target groups) held ~50 sleeping previews. Now 150 previews sleep
/// on one ALB with no rule added and one target group more; each request finds its own service,
/// and the morning puts every rule back.
#[tokio::test]
async fn a_hundred_and_fifty_previews_sleep_on_one_alb_within_its_quotas() {
    let (f, c) = (shared_alb(150), config());
    let (rules, groups) = (routing_of(f.rules()), f.target_groups().len());
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 150, "{:?}", down.services.iter().find(|s| s.error.is_some()));
    assert_eq!(f.rules().len(), rules.len(), "no rule added");
    assert_eq!(f.target_groups().len(), groups + 1, "one waking target group for the load balancer");
    assert_eq!(ours(&f).len(), 150);
    let waking = ours(&f)[0].forwards_to[0].clone();
    for i in [0, 77, 149] {
        let knock = knock_for(&waking, &format!("pr-{i}.example.com"));
        let answer =
            decide(&c, &f, &knock, at("2026-11-21T10:00:00Z"), &RecentlyWoken::default(), test_deadline()).await;
        assert_eq!(answer.waking(), Some(format!("pr-{i}").as_str()));
        assert_eq!(f.service("previews", &format!("pr-{i}")).desired, 1);
    }
    run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T08:00:00Z"), None).await.unwrap();
    run(&f, &c, inv(Mode::Reconcile, "2026-11-23T08:15:00Z"), None).await.unwrap();
    assert_eq!(routing_of(f.rules()), rules, "every rule back as it was");
    assert_eq!(f.target_groups().len(), groups);
}

/// Item 3, quotas: a load balancer at its target-group quota refuses the waking group. The
/// Friday sleep goes on without a waking page (`not covered: quota`, not a failure, nothing
/// left behind); an idle sleep is given up, its saved state removed again.
#[tokio::test]
async fn a_quota_refusal_sleeps_without_waking_and_never_idle_sleeps() {
    let c = config();
    let f = fleet();
    let before = routing_of(f.rules());
    f.refuse("elasticloadbalancing:CreateTargetGroup", "TooManyUniqueTargetGroupsPerLoadBalancer");
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!((down.count(Reported::ScaledDown), down.failures().count()), (1, 0), "{:?}", down.services);
    assert!(down.services[0].steps.iter().any(|s| s.starts_with("not covered: quota")), "{:?}", down.services[0].steps);
    assert_eq!(routing_of(f.rules()), before);
    assert_eq!(f.target_groups().len(), 2);

    let f = fleet();
    f.edit("previews", "pr-101-web", |s| {
        s.tags.insert("cost-saver:idle-after".into(), "30m".into());
    });
    f.refuse("elasticloadbalancing:CreateTargetGroup", "TooManyTargetGroups");
    let idle = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T11:00:00Z"), None).await.unwrap();
    let web = idle.services.iter().find(|s| s.service == "pr-101-web").unwrap();
    assert_eq!((web.action, idle.failures().count()), (Reported::Skipped, 0), "{web:#?}");
    assert!(web.reason.contains("not idle-slept") && web.reason.contains("quota"), "{}", web.reason);
    let s = f.service("previews", "pr-101-web");
    assert_eq!((s.desired, s.tags.contains_key("cost-saver:saved")), (2, false));
    assert_eq!(routing_of(f.rules()), before);
}

/// Item 3, all or nothing: when the 2nd of a service's two rules cannot be swapped, the 1st is
/// swapped back before the error is reported: the awake app's users never meet the waker.
#[tokio::test]
async fn a_failure_on_the_second_rule_swaps_the_first_back() {
    const OTHER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/80";
    let c = config();
    let f = fleet();
    f.add_rule("rule-101-http", LB, OTHER, Some(3), WEB_HOST, WEB_TG);
    let before = routing_of(f.rules());
    // TagResource, CreateTargetGroup, RegisterTargets, AddTags, ModifyRule, AddTags, ModifyRule ← refused
    f.fail_write(7);
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.failures().count(), 1, "{:?}", down.services);
    assert_eq!(f.service("previews", "pr-101-web").desired, 2, "still awake");
    assert_eq!(routing_of(f.rules()), before, "both rules forward to the app: {:?}", f.log());
}

/// Item 4: a preview deleted while asleep gets its rule back (its saved forward) and the waking
/// group goes; a deleted cluster among them fails nobody else.
#[tokio::test]
async fn deleted_previews_get_their_rules_back_and_fail_nobody_else() {
    let c = config();
    let f = shared_alb(3);
    let before = routing_of(f.rules());
    run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(ours(&f).len(), 3);
    f.delete_service("previews", "pr-1");
    let later = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
    assert!(later.routing.iter().any(|l| l.contains("pr-1: no longer exists")), "{:?}", later.routing);
    let rule_1 = routing_of(f.rules()).into_iter().find(|r| r.arn == "rule-1").unwrap();
    assert_eq!(rule_1, before.iter().find(|r| r.arn == "rule-1").unwrap().clone(), "put back as it was");
    assert_eq!(ours(&f).len(), 2, "the others stay asleep behind the waker");
    assert_eq!(later.failures().count(), 0);
}

/// Item 5: a swapped rule put back by hand while its service sleeps (or a new rule for it) is
/// swapped again by the next reconcile, not left to answer 503 until morning.
#[tokio::test]
async fn edits_while_asleep_are_repaired_by_the_next_reconcile() {
    let c = config();
    let f = fleet();
    run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    f.edit_rule("rule-101", |r| {
        r.forwards_to = vec![WEB_TG.into()];
        r.forward = Some(Forward::to(WEB_TG));
    });
    f.add_rule("rule-101-new", LB, LISTENER, Some(30), "www.pr-101.previews.example.com", WEB_TG);
    let next = run(&f, &c, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
    let web = next.services.iter().find(|s| s.service == "pr-101-web").unwrap();
    assert!(web.reason.contains("routing repaired"), "{web:#?}");
    let swapped = ours(&f);
    assert_eq!(swapped.len(), 2, "{swapped:?}");
    assert!(swapped.iter().all(forwards_to_waker));
    assert_eq!(swapped.iter().find(|r| r.arn == "rule-101").unwrap().tags[&format!("{KEY}-forward")], WEB_TG);
    assert_eq!(f.service("previews", "pr-101-web").desired, 0);
}

/// Item 6: while A slept, its waking rule caught B's traffic on their shared target group and
/// woke A 39 times a weekend. A target group two services list is never routed to the waker.
#[tokio::test]
async fn a_target_group_shared_by_two_services_is_never_routed() {
    let c = config();
    let f = fleet();
    f.add_service(
        MemoryService::new("previews", "pr-101-worker", 1).tag("cost-saver:keep-alive", "true").behind(WEB_TG),
    );
    let before = routing_of(f.rules());
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    let web = down.services.iter().find(|s| s.service == "pr-101-web").unwrap();
    assert_eq!(web.action, Reported::ScaledDown);
    assert!(
        web.steps.iter().any(|s| s.contains("not covered: target group") && s.contains("shared")),
        "{:?}",
        web.steps
    );
    assert_eq!(routing_of(f.rules()), before, "B's traffic keeps reaching B");
}

/// Item 9: the tool changes only what it made. A rule someone else tagged
/// `cost-saver:wakes=<an awake service>` is neither changed nor untagged by a reconcile, and a
/// `csw-` group without the tool's marker is neither used nor deleted.
#[tokio::test]
async fn what_the_tool_did_not_make_is_never_changed_or_deleted() {
    let c = config();
    let f = fleet();
    f.edit_rule("rule-102", |r| {
        r.tags.insert(KEY.into(), WEB_ARN.into());
    });
    let impostor =
        format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{}/9", waking_group_name(LB));
    f.add_tagged_target_group(&impostor, &[(KEY, LB)]);
    let before = f.rules();
    run(&f, &c, inv(Mode::Reconcile, "2026-11-20T11:00:00Z"), None).await.unwrap();
    assert_eq!(f.rules(), before, "not even its tags");
    assert!(f.target_groups().contains(&impostor));
    let down = run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    let web = down.services.iter().find(|s| s.service == "pr-101-web").unwrap();
    assert_eq!(web.action, Reported::Failed, "{web:#?}");
    assert!(web.error.as_deref().unwrap_or_default().contains("without the tool's marks"), "{web:#?}");
    assert_eq!(f.service("previews", "pr-101-web").desired, 2, "not put to sleep without its waking page");
    assert!(f.target_groups().contains(&impostor));
}

/// Found in review: the planning read looked only at the load balancers of the target groups it
/// was asked about. A group whose rules all forward to the waker is behind none, so a sleeping
/// preview on a second load balancer read as "not covered" whenever an awake one elsewhere was
/// read in the same run, and the working-hours reconcile woke it by the clock.
#[tokio::test]
async fn a_sleeping_preview_on_another_load_balancer_stays_asleep_for_its_next_request() {
    const LB2: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/2";
    const LISTENER2: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/other/2/443";
    const B_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-b/3";
    let c = config();
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    let idle = |s: MemoryService| s.tag("cost-saver:idle-after", "30m");
    f.add_service(idle(MemoryService::new("previews", "pr-a", 1).behind(WEB_TG)).tag("cost-saver:keep-alive", "true"));
    f.add_service(idle(MemoryService::new("previews", "pr-b", 1).behind(B_TG)));
    f.add_target_group(WEB_TG, true);
    f.add_target_group(B_TG, true);
    f.add_rule("rule-a", LB, LISTENER, Some(10), "pr-a.example.com", WEB_TG);
    f.add_rule("rule-b", LB2, LISTENER2, Some(10), "pr-b.example.com", B_TG);
    run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!((f.service("previews", "pr-a").desired, f.service("previews", "pr-b").desired), (1, 0));
    f.edit("previews", "pr-a", |s| {
        s.tags.remove("cost-saver:keep-alive");
    });

    // Monday, working hours: pr-a (awake, silent) and pr-b (asleep) are read in one run.
    let monday = run(&f, &c, inv(Mode::Reconcile, "2026-11-23T10:00:00Z"), None).await.unwrap();
    let b = monday.services.iter().find(|s| s.service == "pr-b").unwrap();
    assert_eq!(b.action, Reported::Skipped, "{b:#?}");
    assert!(b.reason.contains("wakes on its next request"), "{}", b.reason);
    assert_eq!(f.service("previews", "pr-b").desired, 0);
}

/// Found in review: a rule put back keeps the tool's tags, and every later restoring run took
/// its service for one still to release: a health read per target group and an "awake and
/// healthy" line in every summary, for every service that ever slept.
#[tokio::test]
async fn a_service_whose_rules_are_back_costs_later_runs_nothing() {
    let c = config();
    let f = shared_alb(2);
    // pr-1 sleeps until its next request, so the load balancer keeps its waking group.
    f.edit("previews", "pr-1", |s| {
        s.tags.insert("cost-saver:idle-after".into(), "30m".into());
    });
    run(&f, &c, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T08:00:00Z"), None).await.unwrap();
    assert_eq!((f.service("previews", "pr-0").desired, f.service("previews", "pr-1").desired), (1, 0));
    assert_eq!(ours(&f).len(), 1, "pr-0 routed back, pr-1 still with the waker");
    let later = run(&f, &c, inv(Mode::Reconcile, "2026-11-23T08:15:00Z"), None).await.unwrap();
    assert!(later.routing.iter().all(|l| !l.contains("pr-0")), "{:?}", later.routing);
    assert_eq!(later.aws_calls.get("elasticloadbalancing:DescribeTargetHealth"), None, "{:?}", later.aws_calls);
}
