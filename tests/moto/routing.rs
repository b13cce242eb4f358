//! Issues 10 and 17: the waking routing against moto server. A preview behind an Application
//! Load Balancer rule goes to sleep: its rule forwards to the load balancer's waking target group
//! (its own forward saved in its tags first) before its count reaches 0. A request the ALB routes
//! there, handled by the waker, restores it; the rule gets its forward back only once its target
//! group has a healthy target, and then every rule routes exactly as before.
//!
//! moto's quirks met here: a load balancer needs subnets of moto's EC2 (made with boto3, see
//! `testkit::ec2_network`); ECS services keep their `loadBalancers` but never register targets,
//! so the test registers one to make a group healthy; `SetRulePriorities` refuses swaps AWS
//! allows and deleting a rule twice answers 200 (the tool never relies on either).

use ecs_cost_saver::summary::Reported;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2 as elb;
use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::{retry_config, AwsFleet, WRITE_OPERATIONS};
use ecs_cost_saver::fleet::ReadFleet;
use ecs_cost_saver::lambda::handle_waker;
use ecs_cost_saver::run::run;
use ecs_cost_saver::waker::RecentlyWoken;
use ecs_cost_saver::{Config, Invocation, Mode};
use elb::types::{Action, ActionTypeEnum, HostHeaderConditionConfig, PathPatternConditionConfig, RuleCondition, Tag};
use testkit::fault_proxy::{Call, Fault, FaultProxy};
use testkit::{sdk_config_at, Moto, Seeder};

use crate::traffic::alb_request;

/// The host of `events/alb-request.json`, which pr-101-web's rule asks for.
const HOST: &str = "pr-101.previews.example.com";

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";

fn inv(mode: Mode, now: &str) -> Invocation {
    let now = DateTime::parse_from_rfc3339(now).unwrap().with_timezone(&Utc);
    Invocation { mode, now, dry_run: false, force: false }
}

/// Far enough away never to cut a test's wake short.
fn later() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(600)
}

/// The target group the rule at `priority` forwards to.
async fn forward_of(lb: &elb::Client, listener: &str, priority: &str) -> String {
    let out = lb.describe_rules().listener_arn(listener).send().await.unwrap();
    let rule = out.rules().iter().find(|r| r.priority() == Some(priority)).expect("the rule");
    rule.actions()[0].target_group_arn().unwrap().to_string()
}

/// Every rule of the listener as (priority, conditions, actions, tags), for exact comparison; the
/// tool's own tags, which stay on a rule put back (describing it), left out.
async fn rules(lb: &elb::Client, listener: &str) -> Vec<(String, String, String, String)> {
    let out = lb.describe_rules().listener_arn(listener).send().await.unwrap();
    let mut rows = Vec::new();
    for r in out.rules() {
        let arn = r.rule_arn().unwrap().to_string();
        let tags = lb.describe_tags().resource_arns(&arn).send().await.unwrap();
        rows.push((
            r.priority().unwrap_or_default().to_string(),
            format!("{:?}", r.conditions()),
            format!("{:?}", r.actions()),
            format!(
                "{:?}",
                tags.tag_descriptions().first().map(|d| d
                    .tags()
                    .iter()
                    .filter(|t| !t.key().unwrap_or_default().starts_with("cost-saver:wakes"))
                    .cloned()
                    .collect::<Vec<_>>())
            ),
        ));
    }
    rows.sort();
    rows
}

/// The previews load balancer: listener on port 80 (default: a fixed 404), pr-101-web's rule at
/// priority 10 (host and path, tagged `team=web`), pr-102's at 9;
/// pr-101-web (2 tasks) in cluster `previews` behind its target group, no healthy target yet.
struct PreviewAlb {
    sdk: aws_config::SdkConfig,
    seeder: Seeder,
    lb: elb::Client,
    listener: String,
    web: String,
}

async fn preview_alb(moto: &Moto) -> PreviewAlb {
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    let lb = elb::Client::new(&sdk);
    let alb = testkit::alb::previews(moto, &lb).await;
    let (web, other) = (
        testkit::alb::target_group(&lb, &alb, "pr-101-web").await,
        testkit::alb::target_group(&lb, &alb, "pr-102-web").await,
    );
    let listener = alb.listener.clone();
    let forward = |to: &str| Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(to).build();
    let host = |h: &str| {
        RuleCondition::builder()
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().values(h).build())
            .build()
    };
    let path = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values("/app/*").build())
        .build();
    lb.create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(host("pr-101.previews.example.com"))
        .conditions(path)
        .actions(forward(&web))
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    lb.create_rule()
        .listener_arn(&listener)
        .priority(9)
        .conditions(host("pr-102.previews.example.com"))
        .actions(forward(&other))
        .send()
        .await
        .unwrap();

    seeder.cluster("previews", &[("Environment", "preview")]).await;
    seeder.service_behind("previews", "pr-101-web", 2, &[], &web).await;
    PreviewAlb { sdk, seeder, lb, listener, web }
}

impl PreviewAlb {
    async fn register_healthy_target(&self) {
        self.lb
            .register_targets()
            .target_group_arn(&self.web)
            .targets(elb::types::TargetDescription::builder().id("10.0.1.5").port(80).build())
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_behind_an_alb_rule_sleeps_wakes_on_request_and_gets_every_rule_back() {
    let moto = Moto::start();
    let alb = preview_alb(&moto).await;
    let (sdk, seeder, lb, listener) = (&alb.sdk, &alb.seeder, &alb.lb, &alb.listener);
    let before = rules(lb, listener).await;

    let config = visit_config();
    let fleet = AwsFleet::new(sdk);
    let down = run(&fleet, &config, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 1, "{:#?}", down.services);
    let steps = &down.services[0].steps;
    assert!(steps[1].starts_with("rule ") && steps[1].ends_with("(priority 10) forwards to the waker"), "{steps:?}");
    assert!(steps[2].starts_with("desired 2 -> 0"), "{steps:?}");

    // No rule added: the rule at 10 forwards to the load balancer's waking group, a lambda
    // target group with the waker in it; its own forward is in its tags.
    let during = lb.describe_rules().listener_arn(listener).send().await.unwrap();
    assert_eq!(during.rules().len(), before.len());
    let waking = forward_of(lb, listener, "10").await;
    assert!(waking.contains(":targetgroup/csw-"), "{waking}");
    let swapped = during.rules().iter().find(|r| r.priority() == Some("10")).unwrap();
    let tags = lb.describe_tags().resource_arns(swapped.rule_arn().unwrap()).send().await.unwrap();
    let tags = tags.tag_descriptions()[0].tags();
    let tag = |k: &str| tags.iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string);
    assert_eq!(tag("cost-saver:wakes-forward"), Some(alb.web.clone()));
    assert_eq!(tag("team").as_deref(), Some("web"), "the rule's own tags stay");
    let health = lb.describe_target_health().target_group_arn(&waking).send().await.unwrap();
    assert_eq!(health.target_health_descriptions()[0].target().unwrap().id(), Some(WAKER));

    // A second run changes nothing.
    let again = run(&fleet, &config, inv(Mode::Reconcile, "2026-11-20T22:00:00Z"), None).await.unwrap();
    let writes: Vec<&String> = again.aws_calls.keys().filter(|op| WRITE_OPERATIONS.contains(&op.as_str())).collect();
    assert!(writes.is_empty(), "{:?}", again.aws_calls);

    // The ALB routes a request to the waking group: the waker restores the service. Its group
    // has no healthy target yet, so the waking rule stays. The request is
    // `events/alb-request.json`, as the ALB sends it, to the group the waking rule forwards to.
    let calls_before: u32 = fleet.calls().values().sum();
    let started = std::time::Instant::now();
    let answer = handle_waker(
        &config,
        &fleet,
        alb_request(&waking, HOST, "/app/"),
        Utc::now(),
        &RecentlyWoken::default(),
        later(),
    )
    .await
    .unwrap();
    let (took, calls) = (started.elapsed(), fleet.calls().values().sum::<u32>() - calls_before);
    eprintln!("waker, cold request that restores: {calls} AWS calls, {} ms against moto on loopback", took.as_millis());
    // Measured 19: the rules of the request's load balancer are read first. At AWS's usual
    // 20-60 ms a call, about a second.
    assert!(calls <= 20, "{:?}", fleet.calls());
    assert_eq!(answer.status_code, 503);
    let body = String::from_utf8_lossy(answer.body.as_ref().map(|b| b.as_ref()).unwrap_or_default()).to_string();
    assert!(body.contains("pr-101-web is waking up"), "{body}");
    let woken = seeder.snapshot(&["previews"]).await;
    assert_eq!(woken["previews/pr-101-web"].desired, 2);
    assert_ne!(rules(lb, listener).await, before, "routing kept while unhealthy");

    // A healthy target: the next reconcile routes back; every rule exactly as before.
    alb.register_healthy_target().await;
    let back = run(&fleet, &config, inv(Mode::Reconcile, "2026-11-20T22:15:00Z"), None).await.unwrap();
    assert!(back.routing.iter().any(|l| l.contains("awake and healthy")), "{:?}", back.routing);
    assert_eq!(rules(lb, listener).await, before);
    run(&fleet, &config, inv(Mode::Reconcile, "2026-11-20T22:30:00Z"), None).await.unwrap();
    let groups = lb.describe_target_groups().send().await.unwrap();
    assert_eq!(groups.target_groups().len(), 2, "the waking group is gone");
}

/// A second listener tagged `cost-saver:wake-on-request=false` (read with the rules' tags, in the
/// same DescribeTags batch) keeps its rules as they are; the first listener's rule is swapped.
#[tokio::test(flavor = "multi_thread")]
async fn a_listener_that_opts_out_keeps_its_rules_while_the_service_sleeps() {
    let moto = Moto::start();
    let alb = preview_alb(&moto).await;
    let lbs = alb.lb.describe_load_balancers().send().await.unwrap();
    let balancer = lbs.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&alb.web).build();
    let internal = alb
        .lb
        .create_listener()
        .load_balancer_arn(&balancer)
        .port(8080)
        .protocol(elb::types::ProtocolEnum::Http)
        .default_actions(forward.clone())
        .tags(Tag::builder().key("cost-saver:wake-on-request").value("false").build())
        .send()
        .await
        .unwrap();
    let internal = internal.listeners()[0].listener_arn().unwrap().to_string();
    let host = HostHeaderConditionConfig::builder().values("pr-101.internal.example.com").build();
    let condition = RuleCondition::builder().field("host-header").host_header_config(host).build();
    alb.lb
        .create_rule()
        .listener_arn(&internal)
        .priority(5)
        .conditions(condition)
        .actions(forward)
        .send()
        .await
        .unwrap();
    let (public_before, internal_before) = (rules(&alb.lb, &alb.listener).await, rules(&alb.lb, &internal).await);

    let config = visit_config();
    let down =
        run(&AwsFleet::new(&alb.sdk), &config, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 1, "{:#?}", down.services);
    let steps = &down.services[0].steps;
    assert!(steps.iter().any(|s| s.starts_with("not covered: listener") && s.contains("opts out")), "{steps:?}");
    assert_eq!(rules(&alb.lb, &internal).await, internal_before, "the opted-out listener is untouched");
    assert_eq!(rules(&alb.lb, &alb.listener).await.len(), public_before.len(), "no rule added on port 80");
    assert!(forward_of(&alb.lb, &alb.listener, "10").await.contains(":targetgroup/csw-"), "swapped on port 80");
}

const SLEEP_WRITES: u32 = 6;

/// The process dies at its k-th write, at every k: the sleep (saved tag, waking group, its
/// target, the rule's saved forward, the swap, the count) and then the wake (the waker's restore
/// and keep-alive, the forward put back, the group removed). A `Status(400)` from the proxy is not retried, and every write after it
/// fails too, as if the function had stopped there. The next runs, through moto directly, must
/// finish the job: asleep behind its swapped rule, and after the wake every rule routing exactly
/// as before with the waking group gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_any_write_of_the_sleep_or_the_wake_is_finished_by_the_next_run() {
    let config = visit_config();
    let mut wake_writes: Option<u32> = None;
    let mut k = 1;
    loop {
        let moto = Moto::start();
        let alb = preview_alb(&moto).await;
        let before = rules(&alb.lb, &alb.listener).await;
        let direct = AwsFleet::new(&alb.sdk);
        let writes = Arc::new(AtomicU32::new(0));
        let counted = writes.clone();
        let in_sleep = k <= SLEEP_WRITES;
        let crash_at = if in_sleep { k } else { k - SLEEP_WRITES };
        let proxy = FaultProxy::start(
            moto.port,
            Arc::new(move |call: &Call| {
                if !WRITE_OPERATIONS.contains(&call.operation) {
                    return None;
                }
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                (n >= crash_at).then_some(Fault::Status(400))
            }),
        )
        .await;
        let crashing = AwsFleet::new(&sdk_config_at(&proxy.endpoint, retry_config()).await);
        let (sleeper, waker) = if in_sleep { (&crashing, &direct) } else { (&direct, &crashing) };

        // The sleep; when it crashed, the next scheduled run finishes it.
        let down = run(sleeper, &config, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z"), None).await.unwrap();
        if in_sleep {
            assert!(writes.load(Ordering::SeqCst) >= k, "the sleep has a write {k}");
            let _ = run(&direct, &config, inv(Mode::Reconcile, "2026-11-20T21:15:00Z"), None).await.unwrap();
        } else {
            let sleep_writes: u32 = WRITE_OPERATIONS.iter().filter_map(|op| down.aws_calls.get(*op)).sum();
            assert_eq!(sleep_writes, SLEEP_WRITES, "{:?}", down.aws_calls);
        }
        let asleep = alb.seeder.snapshot(&["previews"]).await;
        assert_eq!(asleep["previews/pr-101-web"].desired, 0, "crash at write {k}");
        assert!(asleep["previews/pr-101-web"].tags.contains_key("cost-saver:saved"), "crash at write {k}");
        let during = alb.lb.describe_rules().listener_arn(&alb.listener).send().await.unwrap();
        assert_eq!(during.rules().len(), before.len(), "no rule added, crash at write {k}");
        let waking = forward_of(&alb.lb, &alb.listener, "10").await;
        assert!(waking.contains(":targetgroup/csw-"), "swapped, crash at write {k}");

        // The wake: a request, a healthy target, the next reconcile. When it crashed, the next
        // page reload and reconcile finish it.
        let recent = RecentlyWoken::default();
        let _ = handle_waker(&config, waker, alb_request(&waking, HOST, "/app/"), Utc::now(), &recent, later())
            .await
            .unwrap();
        alb.register_healthy_target().await;
        let _ = run(waker, &config, inv(Mode::Reconcile, "2026-11-20T22:15:00Z"), None).await.unwrap();
        let clean_wake = !in_sleep && writes.load(Ordering::SeqCst) < crash_at;
        if clean_wake {
            wake_writes = Some(writes.load(Ordering::SeqCst));
        } else if !in_sleep {
            let _ = handle_waker(
                &config,
                &direct,
                alb_request(&waking, HOST, "/app/"),
                Utc::now(),
                &RecentlyWoken::default(),
                later(),
            )
            .await
            .unwrap();
            let _ = run(&direct, &config, inv(Mode::Reconcile, "2026-11-20T22:30:00Z"), None).await.unwrap();
        }
        let _ = run(&direct, &config, inv(Mode::Reconcile, "2026-11-20T22:45:00Z"), None).await.unwrap();
        let awake = alb.seeder.snapshot(&["previews"]).await;
        assert_eq!(awake["previews/pr-101-web"].desired, 2, "crash at write {k}");
        assert!(!awake["previews/pr-101-web"].tags.contains_key("cost-saver:saved"), "crash at write {k}");
        assert_eq!(rules(&alb.lb, &alb.listener).await, before, "every rule as before, crash at write {k}");
        let groups = alb.lb.describe_target_groups().send().await.unwrap();
        assert_eq!(groups.target_groups().len(), 2, "the waking group is gone, crash at write {k}");
        if clean_wake {
            break;
        }
        k += 1;
    }
    let wake_writes = wake_writes.unwrap_or_default();
    eprintln!("crashed at each of the sleep's {SLEEP_WRITES} writes and the wake's {wake_writes}");
    assert!(wake_writes >= 4, "the wake writes at least the count, the untag, the rule's forward and the group");
}

// Sleeping when idle, with request metrics in moto's CloudWatch: tests/moto/idle_week.rs.

/// The routing tests' settings: the waker deployed, and any request waking (moto's load balancers
/// are internet-facing, where `WAKE_ON=auto` would show the Wake button; `tests/e2e/waker.rs`
/// drives that).
fn visit_config() -> Config {
    Config::from_lookup(|k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "WAKE_ON" => Some("visit".into()),
        _ => None,
    })
    .unwrap()
}
