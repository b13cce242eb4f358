//! Issue 19 against moto server: a three-member preview (web and api behind one load balancer on
//! the host and its `/api/*` path, a worker without a load balancer) sleeps as one when idle, one
//! browser request to the web host wakes all three and its page lists them, each rule gets its
//! forward back once its own group is healthy, and after the idle window all three sleep again.
//!
//! As in the idle week: moto stamps deployments with the real clock, so the day is simulated on
//! the Monday after today; CloudWatch goes through the test proxy (CBOR to JSON).

use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2 as elb;
use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::{retry_config, AwsFleet};
use ecs_cost_saver::lambda::handle_waker;
use ecs_cost_saver::run::run;
use ecs_cost_saver::summary::Reported;
use ecs_cost_saver::waker::RecentlyWoken;
use ecs_cost_saver::{Config, Invocation, Mode};
use elb::types::{Action, ActionTypeEnum, HostHeaderConditionConfig, PathPatternConditionConfig, RuleCondition};
use testkit::fault_proxy::{Call, FaultProxy};
use testkit::{sdk_config_at, Moto, Seeder};

use crate::traffic::{alb_request, next_monday};

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const HOST: &str = "pr-101.previews.example.com";
const MEMBERS: [&str; 3] = ["pr-101-web", "pr-101-api", "pr-101-worker"];
const ENV: (&str, &str) = ("cost-saver:environment", "pr-101");

/// The target group the rule at `priority` forwards to now.
async fn forward_of(lb: &elb::Client, listener: &str, priority: &str) -> String {
    let out = lb.describe_rules().listener_arn(listener).send().await.unwrap();
    let rule = out.rules().iter().find(|r| r.priority() == Some(priority)).expect("the rule");
    rule.actions()[0].target_group_arn().unwrap().to_string()
}

async fn register(lb: &elb::Client, group: &str) {
    let target = elb::types::TargetDescription::builder().id("10.0.1.5").port(80).build();
    lb.register_targets().target_group_arn(group).targets(target).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_member_preview_sleeps_wakes_and_routes_back_as_one_on_moto() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port, Arc::new(|_: &Call| None)).await;
    let sdk = sdk_config_at(&proxy.endpoint, retry_config()).await;
    let (seeder, lb) = (Seeder::new(&sdk), elb::Client::new(&sdk));
    let alb = testkit::alb::previews(&moto, &lb).await;
    let (web, api) = (
        testkit::alb::target_group(&lb, &alb, "pr-101-web").await,
        testkit::alb::target_group(&lb, &alb, "pr-101-api").await,
    );
    let host = RuleCondition::builder()
        .field("host-header")
        .host_header_config(HostHeaderConditionConfig::builder().values(HOST).build())
        .build();
    let api_path = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values("/api/*").build())
        .build();
    let forward = |to: &str| Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(to).build();
    let rule = lb.create_rule().listener_arn(&alb.listener).conditions(host.clone());
    rule.clone().priority(10).conditions(api_path).actions(forward(&api)).send().await.unwrap();
    rule.priority(20).actions(forward(&web)).send().await.unwrap();
    seeder.cluster("previews", &[("Environment", "preview")]).await;
    seeder.service_behind("previews", "pr-101-web", 2, &[ENV], &web).await;
    seeder.service_behind("previews", "pr-101-api", 3, &[ENV], &api).await;
    seeder.service_running("previews", "pr-101-worker", 1, &[ENV], "app").await;

    let config = Config::from_lookup(|k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "IDLE_AFTER" => Some("30m".to_string()),
        "WAKE_ON" => Some("visit".into()),
        _ => None,
    })
    .unwrap();
    let fleet = AwsFleet::new(&sdk);
    let monday = next_monday();
    let at = |h: u32, m: u32| -> DateTime<Utc> { monday.and_hms_opt(h, m, 0).unwrap().and_utc() };
    let reconcile = |now| Invocation { mode: Mode::Reconcile, now, dry_run: false, force: false };
    let desired = || async {
        let s = seeder.snapshot(&["previews"]).await;
        MEMBERS.map(|m| s[&format!("previews/{m}")].desired)
    };

    // Nobody used it all morning: all three sleep, the worker with the rest.
    let idle = run(&fleet, &config, reconcile(at(10, 0)), None).await.unwrap();
    assert_eq!(desired().await, [0, 0, 0], "{:#?}", idle.services);
    let worker = idle.services.iter().find(|s| s.service == "pr-101-worker").unwrap();
    assert_eq!(worker.action, Reported::ScaledDown);
    assert!(worker.reason.starts_with("environment pr-101 idle for 30 min"), "{}", worker.reason);
    let waking = forward_of(&lb, &alb.listener, "20").await;
    assert!(waking.contains(":targetgroup/csw-"), "{waking}");
    assert_eq!(forward_of(&lb, &alb.listener, "10").await, waking, "the API's rule too");

    // One browser request to the web host: all three wake, and the page lists them.
    let later = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let answer =
        handle_waker(&config, &fleet, alb_request(&waking, HOST, "/"), at(10, 20), &RecentlyWoken::default(), later)
            .await
            .unwrap();
    let page = String::from_utf8_lossy(answer.body.as_ref().map(|b| b.as_ref()).unwrap_or_default()).to_string();
    assert_eq!(answer.status_code, 503);
    assert!(page.contains("pr-101 is waking up"), "{page}");
    for member in MEMBERS {
        assert!(page.contains(&format!(r#"<span class="name">{member}</span>"#)), "{member}: {page}");
    }
    assert!(page.contains("Keep awake +1 h"), "{page}");
    assert_eq!(desired().await, [2, 3, 1]);

    // Each rule gets its forward back once its own group is healthy.
    register(&lb, &web).await;
    run(&fleet, &config, reconcile(at(10, 30)), None).await.unwrap();
    assert_eq!(forward_of(&lb, &alb.listener, "20").await, web, "web healthy: routed back");
    assert_eq!(forward_of(&lb, &alb.listener, "10").await, waking, "api not healthy yet: still the page");
    register(&lb, &api).await;
    run(&fleet, &config, reconcile(at(10, 45)), None).await.unwrap();
    assert_eq!(forward_of(&lb, &alb.listener, "10").await, api);
    assert_eq!(desired().await, [2, 3, 1], "kept awake by the request's keep-alive");

    // Past the keep-alive and the idle window with no request: all three sleep again.
    let again = run(&fleet, &config, reconcile(at(12, 0)), None).await.unwrap();
    assert_eq!(desired().await, [0, 0, 0], "{:#?}", again.services);
    assert!(again.services.iter().filter(|s| s.environment.as_deref() == Some("pr-101")).all(|s| s.idle));
}
