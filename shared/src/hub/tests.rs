use chrono::{DateTime, Utc};

use crate::run::environment_tests::at;
use serde_json::json;

use super::*;
use crate::lambda::{handle_targets, handle_wake_targets, parse_wake_on_targets};
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::plan::Mode;
use crate::summary::Reported;

fn friday_evening() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T21:00:00Z").unwrap().with_timezone(&Utc)
}

fn monday_morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z").unwrap().with_timezone(&Utc)
}

fn hub_config() -> Config {
    Config::from_lookup(|k| match k {
        "TARGETS" => Some("111111111111:eu-west-1,222222222222:eu-west-1,333333333333:us-east-1".into()),
        _ => None,
    })
    .unwrap()
}

/// A fleet like every team's: a scoped cluster with a plain service, an autoscaled one and one
/// kept alive, and a protected cluster.
fn team_fleet(keep_alive_until: &str) -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_cluster("prod", &[("Environment", "prod")]);
    f.add_service(MemoryService::new("previews", "web", 2));
    f.add_service(MemoryService::new("previews", "api", 3).autoscaled(Bounds {
        min: 2,
        max: 6,
        suspended: Suspension { scale_in: false, scale_out: true, scheduled: false },
    }));
    f.add_service(MemoryService::new("previews", "demo", 1).tag("cost-saver:keep-alive", keep_alive_until));
    f.add_service(MemoryService::new("prod", "db", 2));
    f
}

fn three_targets() -> Vec<Reached<MemoryFleet>> {
    vec![
        Reached::new(Target::new("111111111111", "eu-west-1"), Ok(team_fleet("2026-11-20T23:00:00Z"))),
        Reached::new(
            Target::new("222222222222", "eu-west-1"),
            Err("cannot assume arn:aws:iam::222222222222:role/ecs-cost-saver-spoke: sts:AssumeRole failed (AccessDenied)"
                .into()),
        ),
        Reached::new(Target::new("333333333333", "us-east-1"), Ok(team_fleet("2026-11-19T00:00:00Z"))),
    ]
}

fn fleet<'a>(reached: &'a [Reached<MemoryFleet>], account: &str) -> &'a MemoryFleet {
    reached.iter().find(|r| r.target.account == account).unwrap().fleet.as_ref().unwrap()
}

fn inv(mode: Mode, now: DateTime<Utc>) -> Invocation {
    Invocation { mode, now, dry_run: false, force: false }
}

#[tokio::test]
async fn every_reachable_target_sleeps_and_the_unreachable_one_fails_the_invocation_by_name() {
    let config = hub_config();
    let reached = three_targets();
    let err = handle_targets(&config, &reached, inv(Mode::ScaleDown, friday_evening()), None).await.unwrap_err();
    assert_eq!(err.error_type, "TargetsFailed");
    assert!(
        err.error_message.starts_with("1 target(s) failed: 222222222222:eu-west-1: cannot assume"),
        "{}",
        err.error_message
    );
    for account in ["111111111111", "333333333333"] {
        let f = fleet(&reached, account);
        assert_eq!(f.service("previews", "web").desired, 0, "{account}");
        assert_eq!(f.service("previews", "api").desired, 0, "{account}");
        assert_eq!(f.service("prod", "db").desired, 2, "{account}: protected");
    }
    // Kept alive in the first account only (the second's keep-alive has expired).
    assert_eq!(fleet(&reached, "111111111111").service("previews", "demo").desired, 1);
    assert_eq!(fleet(&reached, "333333333333").service("previews", "demo").desired, 0);

    let reached = three_targets();
    let summary = run_targets(&reached, &config, inv(Mode::ScaleDown, friday_evening()), None).await;
    assert_eq!(summary.targets.len(), 3);
    assert_eq!(summary.targets[1].error.as_deref().map(|e| e.contains("AccessDenied")), Some(true));
    assert_eq!(summary.targets[1].services, 0);
    let demo: Vec<_> = summary.services.iter().filter(|s| s.service == "demo").collect();
    assert_eq!(demo.len(), 2, "same names in two accounts are two entries");
    assert_eq!(demo[0].account.as_deref(), Some("111111111111"));
    assert_eq!(demo[0].region.as_deref(), Some("eu-west-1"));
    assert_eq!(demo[0].action, Reported::Skipped);
    assert_eq!(demo[1].account.as_deref(), Some("333333333333"));
    assert_eq!(demo[1].action, Reported::ScaledDown);
    // Counts and calls add up over the targets.
    let counted: u32 = summary.targets.iter().map(|t| t.services).sum();
    assert_eq!(counted as usize, summary.services.len());
    assert_eq!(summary.aws_calls.values().sum::<u32>(), summary.targets.iter().map(|t| t.aws_calls).sum::<u32>());
}

#[tokio::test]
async fn scale_up_restores_each_target_exactly() {
    let config = hub_config();
    let reached = three_targets();
    let before: Vec<_> = ["111111111111", "333333333333"]
        .iter()
        .map(|a| {
            (
                fleet(&reached, a).service("previews", "api").desired,
                fleet(&reached, a).service("previews", "api").scaling,
            )
        })
        .collect();
    let _ = handle_targets(&config, &reached, inv(Mode::ScaleDown, friday_evening()), None).await;
    let up = run_targets(&reached, &config, inv(Mode::ScaleUp, monday_morning()), None).await;
    assert_eq!(up.count(Reported::Restored), 5, "{:?}", up.services);
    for (account, (desired, scaling)) in ["111111111111", "333333333333"].iter().zip(before) {
        let f = fleet(&reached, account);
        assert_eq!(f.service("previews", "api").desired, desired);
        assert_eq!(f.service("previews", "api").scaling, scaling);
        assert_eq!(f.service("previews", "web").desired, 2);
        assert!(!f.service("previews", "web").tags.contains_key("cost-saver:saved"));
    }
}

#[tokio::test]
async fn no_target_reached_is_an_error_naming_each() {
    let config = hub_config();
    let reached: Vec<Reached<MemoryFleet>> = vec![
        Reached::new(
            Target::new("ou-ab12-cdef3456", "eu-west-1"),
            Err("organizations:ListAccountsForParent failed (AccessDeniedException)".into()),
        ),
        Reached::new(Target::new("111111111111", "*"), Err("account:ListRegions failed".into())),
    ];
    let err = handle_targets(&config, &reached, inv(Mode::ScaleDown, friday_evening()), None).await.unwrap_err();
    assert_eq!(err.error_type, "TargetsFailed");
    assert!(
        err.error_message.contains("ou-ab12-cdef3456:eu-west-1: organizations:ListAccountsForParent"),
        "{}",
        err.error_message
    );
    assert!(err.error_message.contains("111111111111:*: account:ListRegions"), "{}", err.error_message);
}

#[tokio::test]
async fn a_failed_service_is_named_with_its_account_and_region() {
    let config = hub_config();
    let reached = vec![Reached::new(Target::new("111111111111", "eu-west-1"), Ok(team_fleet("2026-11-19T00:00:00Z")))];
    fleet(&reached, "111111111111").fail_write(1);
    let err = handle_targets(&config, &reached, inv(Mode::ScaleDown, friday_evening()), None).await.unwrap_err();
    assert_eq!(err.error_type, "ServicesFailed");
    assert!(
        err.error_message.starts_with("1 service(s) failed: 111111111111:eu-west-1:previews/"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn wake_finds_the_service_where_it_is_and_refuses_nothing_elsewhere() {
    let config = hub_config();
    let reached = three_targets();
    let _ = handle_targets(&config, &reached, inv(Mode::ScaleDown, friday_evening()), None).await;
    // Only the third account has a `solo` service.
    fleet(&reached, "333333333333").add_service(
        MemoryService::new("previews", "solo", 0).tag("cost-saver:saved", "desired=2 at=2026-11-20T20:00:00Z"),
    );
    let payload = json!({"cluster": "previews", "service": "solo", "hours": 2});
    let (request, place) = parse_wake_on_targets(&config, &payload, friday_evening()).unwrap();
    assert_eq!(place, crate::targets::Place::default());
    let reachable: Vec<_> = reached.into_iter().filter(|r| r.fleet.is_ok()).collect();
    let report = handle_wake_targets(&config, &reachable, &request, None).await.unwrap();
    assert_eq!(report["kept_alive"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["kept_alive"][0]["account"], "333333333333");
    assert_eq!(report["services"][0]["region"], "us-east-1");
    assert_eq!(fleet(&reachable, "333333333333").service("previews", "solo").desired, 2);

    let nowhere = json!({"cluster": "previews", "service": "gone", "hours": 2});
    let (request, _) = parse_wake_on_targets(&config, &nowhere, friday_evening()).unwrap();
    let err = handle_wake_targets(&config, &reachable, &request, None).await.unwrap_err();
    assert_eq!(err.error_type, "NotFound", "{}", err.error_message);

    // By ARN: only that target is asked for.
    let arn = json!({"service": "arn:aws:ecs:eu-west-1:111111111111:service/previews/web", "hours": 1});
    let (request, place) = parse_wake_on_targets(&config, &arn, friday_evening()).unwrap();
    assert_eq!(place.account.as_deref(), Some("111111111111"));
    assert_eq!(place.region.as_deref(), Some("eu-west-1"));
    let there: Vec<_> = reachable.into_iter().filter(|r| place.holds(&r.target)).collect();
    let report = handle_wake_targets(&config, &there, &request, None).await.unwrap();
    assert_eq!(report["counts"]["restored"], 1, "{report}");
    assert_eq!(fleet(&there, "111111111111").service("previews", "web").desired, 2);
}

#[tokio::test]
async fn a_protected_match_in_one_target_fails_the_wake_but_not_the_others() {
    let config = hub_config();
    let reached = three_targets();
    let reachable: Vec<_> = reached.into_iter().filter(|r| r.fleet.is_ok()).collect();
    fleet(&reachable, "333333333333").add_cluster("shared", &[("Environment", "prod")]);
    fleet(&reachable, "333333333333").add_service(MemoryService::new("shared", "web", 2));
    fleet(&reachable, "111111111111").add_cluster("shared", &[("Environment", "preview")]);
    fleet(&reachable, "111111111111").add_service(
        MemoryService::new("shared", "web", 0).tag("cost-saver:saved", "desired=3 at=2026-11-20T20:00:00Z"),
    );
    let (request, _) =
        parse_wake_on_targets(&config, &json!({"cluster": "shared", "hours": 1}), friday_evening()).unwrap();
    let err = handle_wake_targets(&config, &reachable, &request, None).await.unwrap_err();
    assert_eq!(err.error_type, "TargetsFailed");
    assert!(err.error_message.contains("333333333333:us-east-1: refused: protected"), "{}", err.error_message);
    assert_eq!(fleet(&reachable, "111111111111").service("shared", "web").desired, 3);
    assert_eq!(fleet(&reachable, "333333333333").service("shared", "web").desired, 2);
}

#[test]
fn account_and_region_need_targets_and_must_be_well_formed() {
    let single = Config::from_lookup(|_| None).unwrap();
    let payload = json!({"cluster": "previews", "hours": 1, "account": "111111111111"});
    let err = crate::wake::parse_wake(&payload, friday_evening(), &single).unwrap_err();
    assert!(err.to_string().contains("`account` and `region` need TARGETS"), "{err}");
    let config = hub_config();
    for (payload, says) in [
        (json!({"cluster": "previews", "hours": 1, "account": "1111"}), "`account`: account \"1111\""),
        (json!({"cluster": "previews", "hours": 1, "region": "mars"}), "`region`: region \"mars\""),
        (json!({"service": "arn:aws:ecs:eu-west-1:111111111111:cluster/x", "hours": 1}), "not an ECS service ARN"),
    ] {
        let err = parse_wake_on_targets(&config, &payload, friday_evening()).unwrap_err();
        assert_eq!(err.error_type, "InvalidPayload");
        assert!(err.error_message.contains(says), "{payload}: {}", err.error_message);
    }
}

#[tokio::test]
async fn each_target_has_its_own_metrics_and_the_whole_run_stays_by_function() {
    let config = hub_config();
    let reached = three_targets();
    let summary = run_targets(&reached, &config, inv(Mode::ScaleDown, friday_evening()), None).await;
    let whole = crate::emf::document("fn", &summary, 0);
    assert_eq!(whole["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function"]]));
    assert_eq!(whole["TargetsFailed"], 1.0);
    assert_eq!(whole["ServicesAsleep"], 5.0);
    let parts = per_target(&summary);
    assert_eq!(parts.len(), 3);
    let docs: Vec<_> =
        summary.targets.iter().zip(&parts).map(|(t, p)| crate::emf::document_in("fn", Some(t), p, 0)).collect();
    assert_eq!(docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function", "Account", "Region"]]));
    assert_eq!((docs[0]["Account"].clone(), docs[0]["Region"].clone()), (json!("111111111111"), json!("eu-west-1")));
    assert_eq!(
        [&docs[0], &docs[1], &docs[2]].map(|d| (d["ServicesAsleep"].as_f64(), d["TargetsFailed"].as_f64())),
        [(Some(2.0), Some(0.0)), (Some(0.0), Some(1.0)), (Some(3.0), Some(0.0))]
    );
    assert_eq!(docs[2]["ServicesPutToSleep"], 3.0);
}

/// An ALB can only route to a Lambda function in its own account and region: the hub's waker
/// takes over sleeping services' rules at home only; elsewhere they sleep by schedule and their
/// load balancers are left alone (no routing write is even tried: the spoke role has none).
#[tokio::test]
async fn waking_routing_only_at_home() {
    use crate::run::environment_tests::{config, fleet as preview_fleet, FRIDAY_EVENING};
    let config = config(&[("TARGETS", "111111111111:eu-west-1,222222222222:eu-west-1")]);
    let mut home = Reached::new(Target::new("111111111111", "eu-west-1"), Ok(preview_fleet()));
    home.home = true;
    let reached = vec![home, Reached::new(Target::new("222222222222", "eu-west-1"), Ok(preview_fleet()))];
    let before: Vec<_> = fleet(&reached, "222222222222").rules();
    let summary = run_targets(&reached, &config, inv(Mode::ScaleDown, at(FRIDAY_EVENING)), None).await;
    assert_eq!(summary.failures().count(), 0, "{:?}", summary.services);
    let routed = |account: &str| {
        fleet(&reached, account).rules().iter().filter(|r| r.forwards_to.iter().any(|g| g.contains("/csw-"))).count()
    };
    assert_eq!(routed("111111111111"), 3, "{:?}", fleet(&reached, "111111111111").rules());
    assert_eq!(routed("222222222222"), 0);
    assert_eq!(fleet(&reached, "222222222222").rules(), before);
    assert_eq!(fleet(&reached, "222222222222").service("previews", "pr-101-web").desired, 0);
    assert!(fleet(&reached, "222222222222").target_groups().iter().all(|g| !g.contains("/csw-")));
}

/// Ten targets of 1,000 services make a summary of megabytes: past Lambda's 6 MB response limit
/// the invocation would fail after its work was done. The answer keeps what needs attention.
#[tokio::test]
async fn a_large_answer_keeps_its_failures_and_says_how_many_it_left_out() {
    let config = hub_config();
    let reached = three_targets();
    fleet(&reached, "111111111111").fail_write(1);
    let summary = run_targets(&reached, &config, inv(Mode::ScaleDown, friday_evening()), None).await;
    let whole = serde_json::to_vec(&summary).unwrap().len();
    assert_eq!(within_answer_limit(summary.clone(), whole), summary, "within the limit: whole");
    let cut = within_answer_limit(summary.clone(), whole - 1);
    assert_eq!(cut.services.len(), 1, "{:?}", cut.services);
    assert_eq!(cut.services[0].action, Reported::Failed);
    assert_eq!(cut.services_omitted as usize, summary.services.len() - 1);
    assert_eq!(
        (cut.counts.clone(), cut.targets.clone(), cut.savings.clone()),
        (summary.counts, summary.targets, summary.savings)
    );
    let json = serde_json::to_value(&cut).unwrap();
    assert_eq!(json["services_omitted"], summary.services.len() - 1);
}
