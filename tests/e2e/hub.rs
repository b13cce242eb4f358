//! Issue 20: one deployment over three accounts in two regions each, as deployed. The built
//! functions are served by `cargo lambda watch` with `TARGETS` (an organizational unit of two
//! accounts, a third account by id, and a fourth whose spoke role cannot be assumed), invoked
//! with what the schedules send (`{}`) at the real clock; `DEFAULT_SCHEDULE` makes the outcome
//! independent of the hour. moto keeps a fleet per account and region and honours AssumeRole
//! into other accounts; a fault proxy refuses the one AssumeRole moto would allow.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use testkit::fault_proxy::{Fault, FaultProxy};
use testkit::{account_config, event_file, organization_unit, LambdaWatch, Moto, Seeder, ServiceState};

const REGIONS: [&str; 2] = ["eu-west-1", "us-east-2"];
/// Named by id in `TARGETS`, outside the organizational unit.
const NAMED: &str = "333333333333";
/// Its spoke role refuses the hub (the proxy answers AccessDenied).
const DENIED: &str = "444444444444";
const CLUSTERS: [&str; 2] = ["previews", "prod"];

struct Place {
    account: String,
    region: &'static str,
    seeder: Seeder,
    before: BTreeMap<String, ServiceState>,
}

/// Every team's fleet, with its own counts (`k`): a plain service, an autoscaled one, one kept
/// alive for three hours, and a protected cluster.
async fn seed(s: &Seeder, k: i32) {
    let kept = (chrono::Utc::now() + chrono::Duration::hours(3)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    s.cluster("previews", &[("Environment", "preview")]).await;
    s.cluster("prod", &[("Environment", "prod")]).await;
    s.service("previews", "web", k, &[]).await;
    s.service("previews", "api", 2, &[]).await;
    s.autoscale("previews", "api", 1, 3 + k, [false, true, false]).await;
    s.service("previews", "demo", 1, &[("cost-saver:keep-alive", &kept)]).await;
    s.service("prod", "db", 2, &[]).await;
}

fn env(moto: &Moto, proxy: &FaultProxy, targets: &str, schedule: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = moto.env().into_iter().filter(|(k, _)| k != "AWS_ENDPOINT_URL").collect();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
        ("TARGETS", targets),
        ("DEFAULT_SCHEDULE", schedule),
        ("GRACE_PERIOD_MINUTES", "0"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// cargo lambda prints an error's message wrapped in a box: the message on one line again.
fn unwrapped(error: String) -> String {
    error.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn count(summary: &Value, action: &str) -> u64 {
    summary["counts"][action].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_hub_sleeps_and_restores_three_accounts_in_two_regions() {
    testkit::build_functions();
    let moto = Moto::start();
    let (ou, members) = organization_unit(&moto, 2).await;
    let mut places = Vec::new();
    for (i, account) in members.iter().chain([&NAMED.to_string()]).enumerate() {
        for (j, region) in REGIONS.into_iter().enumerate() {
            let seeder = Seeder::new(&account_config(&moto, account, region).await);
            seed(&seeder, (i * 2 + j + 1) as i32).await;
            let before = seeder.snapshot(&CLUSTERS).await;
            places.push(Place { account: account.clone(), region, seeder, before });
        }
    }
    // A fleet in the hub's own account and region that TARGETS does not name: never touched.
    let home = Seeder::new(&moto.sdk_config().await);
    seed(&home, 9).await;
    let home_before = home.snapshot(&CLUSTERS).await;

    let refuse = Arc::new(|c: &testkit::fault_proxy::Call| {
        (c.operation == "sts:AssumeRole" && c.body.contains(DENIED)).then_some(Fault::AccessDenied)
    });
    let proxy = FaultProxy::start(moto.port, refuse).await;
    let targets = format!("{ou}:eu-west-1,{ou}:us-east-2,{NAMED}:eu-west-1,{NAMED}:us-east-2");
    let schedule = event_file("scheduler-input.json");

    // Asleep at any hour: one scale-down over every target; the refused one fails the
    // invocation by name after the others are done.
    let watch = LambdaWatch::start(&env(&moto, &proxy, &format!("{targets},{DENIED}:eu-west-1"), "never"));
    let failed = unwrapped(watch.invoke_file("scale-down", &schedule).unwrap_err());
    assert!(failed.contains("TargetsFailed"), "{failed}");
    assert!(
        failed.contains(&format!(
            "1 target(s) failed: {DENIED}:eu-west-1: cannot assume arn:aws:iam::{DENIED}:role/ecs-cost-saver-spoke"
        )) && failed.contains("AccessDenied"),
        "{failed}"
    );
    assert_eq!(proxy.injected().get("sts:AssumeRole"), Some(&1));
    for p in &places {
        let now = p.seeder.snapshot(&CLUSTERS).await;
        let at = format!("{}:{}", p.account, p.region);
        assert_eq!(now["previews/web"].desired, 0, "{at}");
        assert_eq!(now["previews/api"].desired, 0, "{at}");
        assert_eq!(now["previews/api"].target, Some((0, 0, [true, true, true])), "{at}");
        let (_, max, _) = p.before["previews/api"].target.unwrap();
        assert!(
            now["previews/api"].tags["cost-saver:saved"].starts_with(&format!("desired=2 min=1 max={max} ")),
            "{at}"
        );
        assert_eq!(now["previews/demo"], p.before["previews/demo"], "{at}: kept alive");
        assert_eq!(now["prod/db"], p.before["prod/db"], "{at}: protected");
    }
    assert_eq!(home.snapshot(&CLUSTERS).await, home_before, "the hub's own fleet is not a target");

    // An engineer wakes one service by its ARN: only its account and region are asked.
    let woken = places.iter().find(|p| p.account == NAMED && p.region == "us-east-2").unwrap();
    let arn = format!("arn:aws:ecs:us-east-2:{NAMED}:service/previews/web");
    let wake = watch.invoke_ascii("wake", &format!(r#"{{"service": "{arn}", "hours": 1}}"#)).unwrap();
    assert_eq!(count(&wake, "restored"), 1, "{wake:#}");
    assert_eq!(wake["kept_alive"][0]["account"], NAMED);
    assert_eq!(wake["kept_alive"][0]["region"], "us-east-2");
    assert_eq!(wake["targets"].as_array().map(Vec::len), Some(1), "{wake:#}");
    assert_eq!(woken.seeder.snapshot(&CLUSTERS).await["previews/web"].desired, woken.before["previews/web"].desired);

    // Through the Function URL, by account and region: an HTTP answer, the same wake.
    let body = format!(
        r#"{{"cluster": "previews", "service": "web", "hours": 1, "account": "{NAMED}", "region": "us-east-2"}}"#
    );
    let url = serde_json::json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}}, "body": body, "isBase64Encoded": false
    });
    let answer = watch.invoke_ascii("wake", &url.to_string()).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer:#}");
    let report: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(report["kept_alive"][0]["account"], NAMED, "{report:#}");
    let refused = format!(r#"{{"cluster": "prod", "hours": 1, "account": "{NAMED}"}}"#);
    let url = serde_json::json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}}, "body": refused, "isBase64Encoded": false
    });
    let answer = watch.invoke_ascii("wake", &url.to_string()).unwrap();
    assert_eq!(answer["statusCode"], 403, "protected in both regions of the account: {answer:#}");
    let body = answer["body"].as_str().unwrap();
    assert!(
        body.contains(&format!("{NAMED}:eu-west-1: prod/db")) && body.contains(&format!("{NAMED}:us-east-2: prod/db")),
        "{body}"
    );

    // reconcile over every target: the woken one stays awake, the rest asleep, the refused
    // target fails it again.
    let failed = unwrapped(watch.invoke_file("reconcile", &schedule).unwrap_err());
    assert!(failed.contains(&format!("{DENIED}:eu-west-1: cannot assume")), "{failed}");
    for p in &places {
        let web = p.seeder.snapshot(&CLUSTERS).await["previews/web"].desired;
        let awake = p.account == NAMED && p.region == "us-east-2";
        assert_eq!(web, if awake { p.before["previews/web"].desired } else { 0 }, "{}:{}", p.account, p.region);
    }
    drop(watch);

    // Awake at any hour, the refused account taken out: one scale-up restores every target
    // exactly, and the summary says where each service is.
    let watch = LambdaWatch::start(&env(&moto, &proxy, &targets, "always"));
    let up = watch.invoke_file("scale-up", &schedule).unwrap();
    assert_eq!(count(&up, "restored"), 11, "{up:#}");
    assert_eq!(count(&up, "failed"), 0, "{up:#}");
    let rollup = up["targets"].as_array().unwrap();
    assert_eq!(rollup.len(), 6, "{up:#}");
    assert!(rollup.iter().all(|t| t["error"].is_null() && t["aws_calls"].as_u64() > Some(0)), "{up:#}");
    for s in up["services"].as_array().unwrap() {
        assert!(s["account"].is_string() && s["region"].is_string(), "{s}");
        assert!(
            s["arn"].as_str().unwrap().contains(&format!(
                "{}:{}",
                s["region"].as_str().unwrap(),
                s["account"].as_str().unwrap()
            )),
            "{s}"
        );
    }
    for p in &places {
        let mut now = p.seeder.snapshot(&CLUSTERS).await;
        if p.account == NAMED && p.region == "us-east-2" {
            let web = now.get_mut("previews/web").unwrap();
            assert!(web.tags.remove("cost-saver:keep-alive").is_some(), "the wake's keep-alive");
        }
        assert_eq!(now, p.before, "{}:{} back exactly as it was", p.account, p.region);
    }
    let again = watch.invoke_file("reconcile", &schedule).unwrap();
    assert_eq!(again["targets"].as_array().map(Vec::len), Some(6));
    assert_eq!(count(&again, "failed") + count(&again, "restored") + count(&again, "scaled_down"), 0, "{again:#}");
    assert_eq!(home.snapshot(&CLUSTERS).await, home_before);
}
