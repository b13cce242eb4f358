//! Issue 18: every function under `sam local invoke`, as testers run it: the `sam build`
//! artifacts (x86_64), the template's own environment with `events/local-env.json` as
//! `--env-vars`, the sample events, a container per invocation, against a moto server on the
//! container bridge's address seeded with the demo fleet.
//!
//! They need Docker and `sam build`, which `scripts/test.sh` provides (`scripts/setup.sh
//! --containers`, then `sam build`, then `cargo test --test sam -- --ignored`); `cargo test` alone
//! skips them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use testkit::sam::{bridge_address, local_env_vars, sam_local};
use testkit::{event_file, seed_demo_fleet, Moto, Seeder, ServiceState, DEMO_CLUSTERS};

struct Local {
    moto: Moto,
    seeder: Seeder,
    before: BTreeMap<String, ServiceState>,
    env_vars: PathBuf,
}

/// moto on the bridge, seeded; `events/local-env.json` as committed, its port made this server's.
async fn local() -> Local {
    let moto = Moto::start_at(&bridge_address(), testkit::free_port());
    let seeder = Seeder::new(&moto.sdk_config().await);
    seed_demo_fleet(&seeder).await;
    let before = seeder.snapshot(&DEMO_CLUSTERS).await;
    let env_vars = local_env_vars(moto.port);
    Local { moto, seeder, before, env_vars }
}

/// One invocation's answer (the function's response, parsed) and its log.
struct Invoked {
    response: Value,
    log: String,
    seconds: f64,
}

/// `sam local invoke <function> -e events/<event>` as the README's recipe runs it; `env_vars`
/// `None` runs with the template's own values only.
fn sam_invoke(function: &str, event: &str, env_vars: Option<&PathBuf>) -> Invoked {
    sam_invoke_path(function, &event_file(event), env_vars)
}

fn sam_invoke_path(function: &str, event: &Path, env_vars: Option<&PathBuf>) -> Invoked {
    let mut cmd = sam_local(&["invoke", function]);
    cmd.arg("-e").arg(event);
    if let Some(file) = env_vars {
        cmd.arg("--env-vars").arg(file);
    }
    let started = Instant::now();
    let out = cmd.output().expect("sam: run scripts/setup.sh");
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let response = serde_json::from_str(last).unwrap_or_else(|e| panic!("{function}: {e}: {stdout}\n{log}"));
    eprintln!("sam local invoke {function} -e {}: {seconds:.1} s", event.display());
    Invoked { response, log, seconds }
}

fn desired(states: &BTreeMap<String, ServiceState>) -> BTreeMap<String, i32> {
    states.iter().map(|(k, s)| (k.clone(), s.desired)).collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker and `sam build`: scripts/test.sh runs it"]
async fn scale_down_then_scale_up_through_sam_local_invoke() {
    let l = local().await;
    let down = sam_invoke("ScaleDownFunction", "friday-evening.json", Some(&l.env_vars));
    assert_eq!(down.response["mode"], "scale-down", "{:#}", down.response);
    assert_eq!(down.response["counts"]["scaled_down"], 4, "{:#}", down.response["counts"]);
    let asleep = l.seeder.snapshot(&DEMO_CLUSTERS).await;
    for name in ["previews/pr-101-web", "previews/pr-101-api", "dev-tools/grafana", "dev-tools/search"] {
        assert_eq!(asleep[name].desired, 0, "{name}");
        assert!(asleep[name].tags.contains_key("cost-saver:saved"), "{name}");
    }
    for name in ["previews/pr-102-web", "dev-tools/nightly-etl", "dev-tools/ledger-replica", "payments-prod/checkout"] {
        assert_eq!(asleep[name].desired, l.before[name].desired, "{name} untouched");
    }
    let up = sam_invoke("ScaleUpFunction", "monday-morning.json", Some(&l.env_vars));
    assert_eq!(up.response["counts"]["restored"], 4, "{:#}", up.response["counts"]);
    let after = l.seeder.snapshot(&DEMO_CLUSTERS).await;
    assert_eq!(desired(&after), desired(&l.before), "every count back");
    assert_eq!(after["previews/pr-101-api"].target, l.before["previews/pr-101-api"].target, "bounds back");
    assert_eq!(after["dev-tools/search"].target, l.before["dev-tools/search"].target, "suspension back");
    drop(l.moto);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker and `sam build`: scripts/test.sh runs it"]
async fn reconcile_wake_and_the_waker_answer_under_sam_local_invoke() {
    let l = local().await;
    let night = sam_invoke("ReconcileFunction", "friday-night.json", Some(&l.env_vars));
    assert_eq!(night.response["mode"], "reconcile");
    assert_eq!(night.response["counts"]["scaled_down"], 4, "{:#}", night.response["counts"]);
    let woken = sam_invoke("WakeFunction", "wake-service.json", Some(&l.env_vars));
    assert_eq!(woken.response["kept_alive"][0]["service"], "pr-101-web", "{:#}", woken.response);
    let web = &l.seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"];
    assert_eq!(web.desired, l.before["previews/pr-101-web"].desired, "restored");
    assert!(web.tags.contains_key("cost-saver:keep-alive"));

    // The waker answers the load balancer's event in the load balancer's format: here no rule
    // forwards to the sample's target group, so a page that does not reload.
    let page = sam_invoke("WakerFunction", "alb-request.json", Some(&l.env_vars));
    assert_eq!(page.response["statusCode"], 503, "{:#}", page.response);
    assert_eq!(page.response["headers"]["content-type"], "text/html; charset=utf-8");
    let body = page.response["body"].as_str().unwrap();
    assert!(body.contains("Nothing to wake here") && !body.contains("refresh"), "{body}");
    drop(l.moto);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker and `sam build`: scripts/test.sh runs it"]
async fn a_dry_run_and_a_malformed_payload_write_nothing() {
    let l = local().await;
    let dry = sam_invoke("ScaleDownFunction", "what-if-friday-20h.json", Some(&l.env_vars));
    assert_eq!(
        (dry.response["dry_run"].as_bool(), &dry.response["counts"]["would_scale_down"]),
        (Some(true), &Value::from(4))
    );
    let bad = std::env::temp_dir().join(format!("malformed-{}.json", l.moto.port));
    std::fs::write(&bad, r#"{"dry_run": "yes"}"#).unwrap();
    let refused = sam_invoke_path("ScaleDownFunction", &bad, Some(&l.env_vars)).response;
    assert_eq!(refused["errorType"], "InvalidPayload", "{refused:#}");
    assert_eq!(desired(&l.seeder.snapshot(&DEMO_CLUSTERS).await), desired(&l.before), "nothing written");
    drop(l.moto);
}

/// The template's deployed values only (no `--env-vars`): no endpoint, so the run only plans and
/// says why; the container reaches nothing beyond this machine, so its discovery fails, and the
/// local fleet is untouched.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker and `sam build`: scripts/test.sh runs it"]
async fn without_an_endpoint_a_local_invoke_only_plans_and_says_why() {
    let l = local().await;
    let run = sam_invoke("ScaleDownFunction", "friday-evening.json", None);
    assert!(
        run.log.contains("dry run: this is `sam local` (AWS_SAM_LOCAL=true) with no AWS_ENDPOINT_URL"),
        "{}",
        run.log
    );
    assert!(!run.log.contains("panicked"), "an empty AWS_ENDPOINT_URL is unset, not a panic: {}", run.log);
    assert_eq!(desired(&l.seeder.snapshot(&DEMO_CLUSTERS).await), desired(&l.before), "nothing written");
    eprintln!("without an endpoint: {:.1} s, {}", run.seconds, run.response);
    drop(l.moto);
}
