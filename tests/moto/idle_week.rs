//! Issue 10: a simulated week of previews that sleep when idle and wake on their first request,
//! against moto server. Request traffic is written as CloudWatch metrics (`RequestCount` by
//! `TargetGroup` and `LoadBalancer`, as an ALB publishes them); every request is routed by the
//! load balancer's rules as they stand (reconcile every 15 minutes, the crons at 08:00 and
//! 20:00, a one-hour session on a third of the previews each work day): to the app while it runs, to the waker (handled with
//! `events/alb-request.json`) behind a waking rule. The fleet must save at least 85% of the
//! task-hours of always-on and answer every request.
//!
//! moto 5.2.5 does not route the Smithy RPC v2 CBOR protocol of the Rust CloudWatch client; the
//! test's proxy (testkit/src/cbor_json.rs) translates it to the JSON protocol moto speaks.
//! moto stamps deployments with the real clock, so the week is simulated from the Monday after
//! today: deployments are then in the past, as in life.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_cloudwatch as cw;
use aws_sdk_elasticloadbalancingv2 as elb;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use ecs_cost_saver::aws::{retry_config, AwsFleet};
use ecs_cost_saver::lambda::handle_waker;
use ecs_cost_saver::run::run;
use ecs_cost_saver::waker::RecentlyWoken;
use ecs_cost_saver::{Config, Invocation};
use elb::types::{Action, ActionTypeEnum, HostHeaderConditionConfig, RuleCondition};
use testkit::fault_proxy::{Call, FaultProxy};
use testkit::{sdk_config_at, Moto, Seeder};

use crate::traffic::{alb_request, default_hours_mode, next_monday, record_request};

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const PREVIEWS: usize = 6;

struct Preview {
    name: String,
    host: String,
    group: String,
    /// The metric dimensions: `targetgroup/<name>/<id>`, `app/<name>/<id>`.
    group_dimension: String,
    registered: bool,
}

/// Where the listener sends a request for `host`: the target group of the matching rule with
/// the lowest priority number, as an ALB evaluates them.
async fn route(lb: &elb::Client, listener: &str, host: &str) -> String {
    let rules = lb.describe_rules().listener_arn(listener).send().await.unwrap();
    let mut matching: Vec<(u32, String)> = rules
        .rules()
        .iter()
        .filter(|r| {
            r.conditions()
                .iter()
                .any(|c| c.host_header_config().is_some_and(|h| h.values().contains(&host.to_string())))
        })
        .filter_map(|r| Some((r.priority()?.parse().ok()?, r.actions()[0].target_group_arn()?.to_string())))
        .collect();
    matching.sort();
    matching.first().map(|(_, group)| group.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_week_of_idle_previews_on_moto_saves_85_percent_and_answers_every_request() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port, Arc::new(|_: &Call| None)).await;
    let sdk = sdk_config_at(&proxy.endpoint, retry_config()).await;
    let (seeder, lb, metrics) = (Seeder::new(&sdk), elb::Client::new(&sdk), cw::Client::new(&sdk));
    let alb = testkit::alb::previews(&moto, &lb).await;
    let lb_dimension = alb.balancer.split_once(":loadbalancer/").unwrap().1.to_string();
    let listener = alb.listener.clone();
    seeder.cluster("previews", &[("Environment", "preview")]).await;
    let mut previews = Vec::new();
    for i in 0..PREVIEWS {
        let name = format!("pr-{i}");
        let group = testkit::alb::target_group(&lb, &alb, &name).await;
        let host = format!("{name}.previews.example.com");
        let condition = RuleCondition::builder()
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().values(&host).build())
            .build();
        let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&group).build();
        let priority = i32::try_from(10 * (i + 1)).unwrap();
        lb.create_rule()
            .listener_arn(&listener)
            .priority(priority)
            .conditions(condition)
            .actions(forward)
            .send()
            .await
            .unwrap();
        seeder.service_behind("previews", &name, 2, &[], &group).await;
        let group_dimension = format!("targetgroup/{}", group.split_once(":targetgroup/").unwrap().1);
        previews.push(Preview { name, host, group, group_dimension, registered: false });
    }

    let config = Config::from_lookup(|k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "IDLE_AFTER" => Some("60m".to_string()),
        // Every user's request wakes (moto's load balancer is internet-facing: `auto` would ask
        // for the button, which these simulated users do not press).
        "WAKE_ON" => Some("visit".into()),
        _ => None,
    })
    .unwrap();
    let fleet = AwsFleet::new(&sdk);
    let monday = next_monday();
    let start: DateTime<Utc> = monday.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let step = Duration::minutes(15);
    let (mut task_hours, mut by_app, mut by_waker) = (0.0, 0, 0);
    let mut unanswered = Vec::new();
    let mut idle_slept = 0;
    let mut now = start;
    while now < start + Duration::days(7) {
        let weekday = now.weekday().num_days_from_monday() as usize;
        let workday = weekday < 5;
        // ECS registers a running service's tasks in its target group and removes them when it
        // stops; moto does not, so the test does.
        let desired: BTreeMap<String, i32> = seeder
            .snapshot(&["previews"])
            .await
            .into_iter()
            .map(|(k, s)| (k.replace("previews/", ""), s.desired))
            .collect();
        for p in previews.iter_mut() {
            let running = desired[&p.name] > 0;
            let target = || elb::types::TargetDescription::builder().id("10.0.1.5").port(80).build();
            if running && !p.registered {
                lb.register_targets().target_group_arn(&p.group).targets(target()).send().await.unwrap();
            } else if !running && p.registered {
                lb.deregister_targets().target_group_arn(&p.group).targets(target()).send().await.unwrap();
            }
            p.registered = running;
        }
        // The fleet as it ran since the last step.
        task_hours += f64::from(desired.values().sum::<i32>()) / 4.0;
        // A one-hour session on a third of the previews each work day, a request every 15 min.
        let later = std::time::Instant::now() + std::time::Duration::from_secs(600);
        for (i, p) in previews.iter().enumerate() {
            let used_today = workday && (i + weekday).is_multiple_of(3);
            if !(used_today && now.hour() == 10 + (i % 7) as u32) {
                continue;
            }
            let to = route(&lb, &listener, &p.host).await;
            if to.contains(":targetgroup/csw-") {
                let answer = handle_waker(
                    &config,
                    &fleet,
                    alb_request(&to, &p.host, "/"),
                    now,
                    &RecentlyWoken::default(),
                    later,
                )
                .await
                .unwrap();
                let body =
                    String::from_utf8_lossy(answer.body.as_ref().map(|b| b.as_ref()).unwrap_or_default()).to_string();
                if answer.status_code == 503 && body.contains(&format!("{} is waking up", p.name)) {
                    by_waker += 1;
                } else {
                    unanswered.push(format!("{now} {}: waker answered {} {body}", p.name, answer.status_code));
                }
            } else if to == p.group && desired[&p.name] > 0 {
                record_request(&metrics, &p.group_dimension, &lb_dimension, now).await;
                by_app += 1;
            } else {
                unanswered.push(format!("{now} {}: routed to {to} while asleep without a waking rule (503)", p.name));
            }
        }
        let mode = default_hours_mode(now);
        let summary = run(&fleet, &config, Invocation { mode, now, dry_run: false, force: false }, None).await.unwrap();
        assert_eq!(summary.failures().count(), 0, "{now}: {:#?}", summary.services);
        idle_slept += summary.services.iter().filter(|s| s.reason.starts_with("idle for")).count();
        now += step;
    }
    let always_on = (PREVIEWS * 2 * 24 * 7) as f64;
    let saved = 1.0 - task_hours / always_on;
    println!(
        "moto week: {task_hours:.1} task-hours of {always_on} always-on, {:.1}% saved; {by_app} requests served by the apps, {by_waker} by the waker, {idle_slept} idle sleeps",
        saved * 100.0
    );
    assert!(unanswered.is_empty(), "{unanswered:#?}");
    assert!(by_waker > 0 && by_app > 0, "both paths exercised: app {by_app}, waker {by_waker}");
    assert!(idle_slept > 0, "idle sleeps read the metrics the apps' requests wrote");
    assert!(saved >= 0.85, "saved {:.1}% of task-hours", saved * 100.0);
}
