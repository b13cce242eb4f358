//! Issue 10: the waking routing against moto server. A preview behind an Application Load
//! Balancer rule goes to sleep: a waking rule (same conditions, higher priority, forwarding to
//! the service's waking target group) is in place before its count reaches 0. A request the ALB
//! routes there, handled by the waker, restores it; routing comes back only once its target
//! group has a healthy target, and then every rule is exactly as before.
//!
//! moto's quirks met here: a load balancer needs subnets of moto's EC2 (made with boto3, see
//! `support::ec2_network`); ECS services keep their `loadBalancers` but never register targets,
//! so the test registers one to make a group healthy; `SetRulePriorities` refuses swaps AWS
//! allows and deleting a rule twice answers 200 (the tool never relies on either).

mod support;

use aws_sdk_elasticloadbalancingv2 as elb;
use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::waker::{decide, Answer, RecentlyWoken};
use ecs_cost_saver::{Config, Invocation, Mode};
use elb::types::{Action, ActionTypeEnum, HostHeaderConditionConfig, PathPatternConditionConfig, RuleCondition, Tag};
use support::{Moto, Seeder};

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";

fn inv(mode: Mode, now: &str) -> Invocation {
    let now = DateTime::parse_from_rfc3339(now).unwrap().with_timezone(&Utc);
    Invocation { mode, now, dry_run: false, force: false }
}

/// Every rule of the listener as (priority, conditions, actions, tags), for exact comparison.
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
            format!("{:?}", tags.tag_descriptions().first().map(|d| d.tags().to_vec())),
        ));
    }
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_behind_an_alb_rule_sleeps_wakes_on_request_and_gets_every_rule_back() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    let lb = elb::Client::new(&sdk);
    let (vpc, subnets) = support::ec2_network(&moto);
    let balancer = lb.create_load_balancer().name("previews").set_subnets(Some(subnets)).send().await.unwrap();
    let balancer = balancer.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let group = |name: &'static str| {
        let (lb, vpc) = (lb.clone(), vpc.clone());
        async move {
            let out = lb
                .create_target_group()
                .name(name)
                .protocol(elb::types::ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .target_type(elb::types::TargetTypeEnum::Ip)
                .send()
                .await
                .unwrap();
            out.target_groups()[0].target_group_arn().unwrap().to_string()
        }
    };
    let (web, other) = (group("pr-101-web").await, group("pr-102-web").await);
    let fixed = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(elb::types::FixedResponseActionConfig::builder().status_code("404").build())
        .build();
    let listener = lb
        .create_listener()
        .load_balancer_arn(&balancer)
        .port(80)
        .protocol(elb::types::ProtocolEnum::Http)
        .default_actions(fixed)
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
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
    let before = rules(&lb, &listener).await;

    let config = Config::from_lookup(|k| (k == "WAKER_FUNCTION_ARN").then(|| WAKER.to_string())).unwrap();
    let fleet = AwsFleet::new(&sdk);
    let down = run(&fleet, &config, inv(Mode::ScaleDown, "2026-11-20T21:00:00Z")).await.unwrap();
    assert_eq!(down.count("scaled_down"), 1, "{:#?}", down.services);
    let steps = &down.services[0].steps;
    assert!(steps[1].starts_with("waking rule at priority 8 in front of"), "{steps:?}");
    assert!(steps[2].starts_with("desired 2 -> 0"), "{steps:?}");

    // The waking rule: same conditions, priority 8 (9 is taken), to a tagged lambda target group.
    let during = lb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let companion = during.rules().iter().find(|r| r.priority() == Some("8")).expect("waking rule");
    let original = during.rules().iter().find(|r| r.priority() == Some("10")).unwrap();
    assert_eq!(
        format!(
            "{:?}",
            companion
                .conditions()
                .iter()
                .map(|c| c.host_header_config().map(|h| h.values().to_vec()))
                .collect::<Vec<_>>()
        ),
        format!(
            "{:?}",
            original
                .conditions()
                .iter()
                .map(|c| c.host_header_config().map(|h| h.values().to_vec()))
                .collect::<Vec<_>>()
        )
    );
    let waking = companion.actions()[0].target_group_arn().unwrap().to_string();
    let health = lb.describe_target_health().target_group_arn(&waking).send().await.unwrap();
    assert_eq!(health.target_health_descriptions()[0].target().unwrap().id(), Some(WAKER));

    // A second run changes nothing.
    let again = run(&fleet, &config, inv(Mode::Reconcile, "2026-11-20T22:00:00Z")).await.unwrap();
    assert!(!again.aws_calls.keys().any(|op| op.contains("Create") || op.contains("Delete")), "{:?}", again.aws_calls);

    // The ALB routes a request to the waking group: the waker restores the service. Its group
    // has no healthy target yet, so the waking rule stays.
    let answer = decide(&config, &fleet, Some(&waking), Utc::now(), &RecentlyWoken::default()).await;
    assert_eq!(answer, Answer::Waking { service: "pr-101-web".into() });
    let woken = seeder.snapshot(&["previews"]).await;
    assert_eq!(woken["previews/pr-101-web"].desired, 2);
    assert_ne!(rules(&lb, &listener).await, before, "routing kept while unhealthy");

    // A healthy target: the next reconcile routes back; every rule exactly as before.
    lb.register_targets()
        .target_group_arn(&web)
        .targets(elb::types::TargetDescription::builder().id("10.0.1.5").port(80).build())
        .send()
        .await
        .unwrap();
    let back = run(&fleet, &config, inv(Mode::Reconcile, "2026-11-20T22:15:00Z")).await.unwrap();
    assert!(back.routing.iter().any(|l| l.contains("awake and healthy")), "{:?}", back.routing);
    assert_eq!(rules(&lb, &listener).await, before);
    let groups = lb.describe_target_groups().send().await.unwrap();
    assert_eq!(groups.target_groups().len(), 2, "the waking group is gone");
}

// Sleeping when idle reads CloudWatch's `GetMetricData`. moto 5.2.5 stores metrics, but the Rust
// CloudWatch client speaks Smithy RPC v2 CBOR, which moto does not route (it answers 404): the
// adapter's query is tested with aws-smithy-mocks (shared/src/aws/load_balancers.rs), the
// decisions on the in-memory fleet (shared/src/run/idle_tests.rs, a simulated week included).
