//! Issue 19: the simulated week on moto with previews of three services (web and api behind one
//! load balancer on the host and its `/api/*`, a worker with no load balancer), as environments
//! and service by service (`ENVIRONMENT_TAG_KEYS=none`) on the same traffic: a session loads the
//! page, then the page calls the API, every 15 minutes for an hour. Requests are routed by the
//! load balancer's rules as they stand; the app's requests are written as CloudWatch metrics, the
//! waker's are handled with `events/alb-request.json`. As in the idle week: the week after today
//! (moto stamps deployments with the real clock), CloudWatch through the test proxy.

use std::sync::Arc;

use aws_sdk_cloudwatch as cw;
use aws_sdk_elasticloadbalancingv2 as elb;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use ecs_cost_saver::aws::{retry_config, AwsFleet};
use ecs_cost_saver::lambda::handle_waker;
use ecs_cost_saver::run::run;
use ecs_cost_saver::waker::RecentlyWoken;
use ecs_cost_saver::{Config, Invocation};
use elb::types::{Action, ActionTypeEnum, HostHeaderConditionConfig, PathPatternConditionConfig, RuleCondition};
use testkit::fault_proxy::{Call, FaultProxy};
use testkit::{sdk_config_at, Moto, Seeder};

use crate::traffic::{alb_request, default_hours_mode, next_monday, record_request};

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const PREVIEWS: usize = 2;
const TASKS: [(&str, i32); 3] = [("web", 2), ("api", 2), ("worker", 1)];

struct Tier {
    service: String,
    group: String,
    rule: String,
    dimension: String,
    registered: bool,
}

#[derive(Debug, Default)]
struct Week {
    task_hours: f64,
    by_app: u32,
    by_waker: u32,
    unanswered: Vec<String>,
    broken_pages: u32,
}

async fn forward_of(lb: &elb::Client, rule: &str) -> String {
    let out = lb.describe_rules().rule_arns(rule).send().await.unwrap();
    out.rules()[0].actions()[0].target_group_arn().unwrap().to_string()
}

async fn week(environments: bool) -> Week {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port, Arc::new(|_: &Call| None)).await;
    let sdk = sdk_config_at(&proxy.endpoint, retry_config()).await;
    let (seeder, lb, metrics) = (Seeder::new(&sdk), elb::Client::new(&sdk), cw::Client::new(&sdk));
    let alb = testkit::alb::previews(&moto, &lb).await;
    let lb_dimension = alb.balancer.split_once(":loadbalancer/").unwrap().1.to_string();
    seeder.cluster("previews", &[("Environment", "preview")]).await;
    let mut previews: Vec<(String, Vec<Tier>)> = Vec::new();
    for i in 0..PREVIEWS {
        let host = format!("pr-{i}.previews.example.com");
        let env = [("cost-saver:environment", format!("pr-{i}"))];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut tiers = Vec::new();
        for (p, (tier, tasks)) in TASKS.into_iter().enumerate() {
            let service = format!("pr-{i}-{tier}");
            if tier == "worker" {
                seeder.service_running("previews", &service, tasks, &env, "app").await;
                continue;
            }
            let group = testkit::alb::target_group(&lb, &alb, &service).await;
            let mut conditions = vec![RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().values(&host).build())
                .build()];
            if tier == "api" {
                let path = PathPatternConditionConfig::builder().values("/api/*").build();
                conditions.push(RuleCondition::builder().field("path-pattern").path_pattern_config(path).build());
            }
            let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&group).build();
            let priority = i32::try_from(10 * (i + 1) + p).unwrap();
            let rule = lb
                .create_rule()
                .listener_arn(&alb.listener)
                .priority(priority)
                .set_conditions(Some(conditions))
                .actions(forward)
                .send()
                .await
                .unwrap();
            let rule = rule.rules()[0].rule_arn().unwrap().to_string();
            seeder.service_behind("previews", &service, tasks, &env, &group).await;
            let dimension = format!("targetgroup/{}", group.split_once(":targetgroup/").unwrap().1);
            tiers.push(Tier { service, group, rule, dimension, registered: false });
        }
        previews.push((host, tiers));
    }
    let keys = if environments { "cost-saver:environment" } else { "none" };
    let config = Config::from_lookup(|k| match k {
        "WAKER_FUNCTION_ARN" => Some(WAKER.to_string()),
        "IDLE_AFTER" => Some("30m".to_string()),
        "WAKE_ON" => Some("visit".into()),
        "ENVIRONMENT_TAG_KEYS" => Some(keys.into()),
        _ => None,
    })
    .unwrap();
    let fleet = AwsFleet::new(&sdk);
    let monday = next_monday();
    let start: DateTime<Utc> = monday.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut w = Week::default();
    let mut now = start;
    while now < start + Duration::days(7) {
        let weekday = now.weekday().num_days_from_monday() as usize;
        let desired = seeder.snapshot(&["previews"]).await;
        let running = |service: &str| desired[&format!("previews/{service}")].desired > 0;
        w.task_hours += f64::from(desired.values().map(|s| s.desired).sum::<i32>()) / 4.0;
        for (_, tiers) in previews.iter_mut() {
            for t in tiers.iter_mut() {
                let target = || elb::types::TargetDescription::builder().id("10.0.1.5").port(80).build();
                let up = running(&t.service);
                if up && !t.registered {
                    lb.register_targets().target_group_arn(&t.group).targets(target()).send().await.unwrap();
                } else if !up && t.registered {
                    lb.deregister_targets().target_group_arn(&t.group).targets(target()).send().await.unwrap();
                }
                t.registered = up;
            }
        }
        for (i, (host, tiers)) in previews.iter().enumerate() {
            if !(weekday < 5 && (i + weekday).is_multiple_of(2) && now.hour() == 10 + i as u32) {
                continue;
            }
            // The page, then (when the app served it) its API call.
            for (k, t) in tiers.iter().enumerate() {
                let to = forward_of(&lb, &t.rule).await;
                if to.contains(":targetgroup/csw-") {
                    let later = std::time::Instant::now() + std::time::Duration::from_secs(600);
                    let mut req = alb_request(&to, host, if k == 1 { "/api/items" } else { "/" });
                    if k == 1 {
                        req.headers.insert("accept", "application/json".parse().unwrap());
                    }
                    let answer =
                        handle_waker(&config, &fleet, req, now, &RecentlyWoken::default(), later).await.unwrap();
                    if answer.status_code == 503 {
                        w.by_waker += 1;
                        w.broken_pages += u32::from(k == 1);
                    } else {
                        w.unanswered.push(format!("{now} {}: waker answered {}", t.service, answer.status_code));
                    }
                    break;
                } else if to == t.group && running(&t.service) {
                    record_request(&metrics, &t.dimension, &lb_dimension, now).await;
                    w.by_app += 1;
                } else {
                    w.unanswered.push(format!("{now} {}: asleep without a waking rule", t.service));
                    break;
                }
            }
        }
        let mode = default_hours_mode(now);
        let summary = run(&fleet, &config, Invocation { mode, now, dry_run: false, force: false }, None).await.unwrap();
        assert_eq!(summary.failures().count(), 0, "{now}: {:#?}", summary.services);
        now += Duration::minutes(15);
    }
    w
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moto_week_of_three_service_previews_as_environments_and_service_by_service() {
    let (together, apart) = tokio::join!(week(true), week(false));
    let always_on = f64::from(TASKS.iter().map(|(_, t)| *t).sum::<i32>()) * PREVIEWS as f64 * 24.0 * 7.0;
    for (name, w) in [("environments", &together), ("service by service", &apart)] {
        println!(
            "moto, {name}: {:.1} task-hours of {always_on}, {:.1}% saved; {} requests by the apps, {} by the waker, {} unanswered, {} broken pages",
            w.task_hours,
            100.0 * (1.0 - w.task_hours / always_on),
            w.by_app,
            w.by_waker,
            w.unanswered.len(),
            w.broken_pages
        );
    }
    assert!(together.unanswered.is_empty() && apart.unanswered.is_empty(), "{together:?}\n{apart:?}");
    assert_eq!(together.broken_pages, 0, "the API wakes with the page");
    assert!(apart.broken_pages > 0, "service by service, the page's API call meets the waker");
    assert!(together.task_hours < apart.task_hours, "the worker sleeps with its environment");
}
