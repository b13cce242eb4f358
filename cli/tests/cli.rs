//! Issue 11: the engineers' command line against moto server, run as the built binary. The
//! deployed stack is played by a small fake of the Lambda API on 127.0.0.1 (the CLI reaches it
//! through `AWS_ENDPOINT_URL_LAMBDA`, everything else goes to moto): it answers
//! `GetFunctionConfiguration` for `<stack>-reconcile` with the functions' settings and runs
//! `Invoke` of `<stack>-wake` with the library's own wake handler against moto. No cargo lambda.
//!
//! Tables are compared with golden files in `cli/tests/golden/` (`UPDATE_GOLDEN=1` rewrites
//! them; review the diff). Times are fixed with `--at` in 2030: moto stamps deployments with the
//! real clock, and the grace period must be long over.

use ecs_cost_saver::summary::Reported;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::{Config, Invocation, Mode};
use serde_json::{json, Value};
use testkit::{seed_demo_fleet, Moto, Seeder, DEMO_CLUSTERS};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const STACK: &str = "previews-saver";
const FRIDAY_EVENING: &str = "2030-11-22T21:00:00Z";

/// The settings the stack's functions run with.
fn stack_settings() -> BTreeMap<String, String> {
    [("DEFAULT_SCHEDULE", "Mon-Fri 08:00-20:00"), ("TIMEZONE", "UTC")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A fake of the two Lambda calls the CLI makes; every request it answered, as `METHOD path`.
struct FakeLambda {
    endpoint: String,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeLambda {
    async fn start(sdk: aws_config::SdkConfig) -> FakeLambda {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let fleet = Arc::new(AwsFleet::new(&sdk));
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (fleet, log) = (fleet.clone(), log.clone());
                tokio::spawn(async move {
                    let (method, path, body) = read(&mut socket).await;
                    log.lock().unwrap().push(format!("{method} {path}"));
                    let (status, headers, answer) = answer(&fleet, &method, &path, &body).await;
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
                        answer.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FakeLambda { endpoint, seen, task }
    }
}

async fn answer(fleet: &AwsFleet, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
    let not_found = |name: &str| {
        (
            404,
            "x-amzn-errortype: ResourceNotFoundException\r\n".to_string(),
            json!({"Type": "User", "message": format!("Function not found: {name}")}).to_string(),
        )
    };
    let name = path.trim_start_matches("/2015-03-31/functions/").split('/').next().unwrap_or_default().to_string();
    if method == "GET" && path.ends_with("/configuration") {
        if name != format!("{STACK}-reconcile") {
            return not_found(&name);
        }
        let config = json!({"FunctionName": name, "Environment": {"Variables": stack_settings()}});
        return (200, String::new(), config.to_string());
    }
    if method == "POST" && path.ends_with("/invocations") {
        // A function whose answer is not JSON (a proxy's error page, a broken build).
        if name == "garbled-wake" {
            return (200, String::new(), "<html>502 Bad Gateway</html>".into());
        }
        if name != format!("{STACK}-wake") {
            return not_found(&name);
        }
        let config = Config::from_lookup(|k| stack_settings().get(k).cloned()).unwrap();
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        return match ecs_cost_saver::lambda::handle_wake(&config, fleet, payload, Utc::now(), None).await {
            Ok(report) => (200, String::new(), report.to_string()),
            Err(d) => (
                200,
                "x-amz-function-error: Unhandled\r\n".into(),
                json!({"errorType": d.error_type, "errorMessage": d.error_message}).to_string(),
            ),
        };
    }
    (400, String::new(), "{}".into())
}

async fn read(socket: &mut tokio::net::TcpStream) -> (String, String, Vec<u8>) {
    let buf = testkit::fault_proxy::read_request(socket).await.unwrap_or_default();
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let (method, path) = (first.next().unwrap_or_default().to_string(), first.next().unwrap_or_default().to_string());
    (method, path, buf.get(end + 4..).unwrap_or_default().to_vec())
}

/// The CLI's exit code, stdout and stderr.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn cli(env: &[(String, String)], args: &[&str]) -> Ran {
    cli_with(env, env!("CARGO_BIN_EXE_ecs-cost-saver"), args).await
}

async fn cli_with(env: &[(String, String)], program: &str, args: &[&str]) -> Ran {
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", "/nonexistent");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing: UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The demo fleet, put to sleep by a scale-down at Friday 20:00 (as the deployed cron would).
async fn fleet_asleep_on_friday_evening() -> (Moto, aws_config::SdkConfig, Seeder) {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    seed_demo_fleet(&seeder).await;
    let config = Config::from_lookup(|k| stack_settings().get(k).cloned()).unwrap();
    let inv = Invocation { mode: Mode::ScaleDown, now: at("2030-11-22T20:00:00Z"), dry_run: false, force: false };
    let down = run(&AwsFleet::new(&sdk), &config, inv, None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 4, "{:#?}", down.services);
    (moto, sdk, seeder)
}

fn env_for(moto: &Moto, lambda: &FakeLambda) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), lambda.endpoint.clone()));
    env.push(("ECS_COST_SAVER_STACK".into(), STACK.into()));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn status_explain_and_next_print_what_the_planner_says() {
    let (moto, sdk, _seeder) = fleet_asleep_on_friday_evening().await;
    let lambda = FakeLambda::start(sdk).await;
    let env = env_for(&moto, &lambda);

    let status = cli(&env, &["status", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    golden("status.txt", &status.stdout);
    let by_tag =
        cli(&env, &["status", "--tag", "preview-id=pr-101", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    golden("status-tag.txt", &by_tag.stdout);

    // Piped without --format: JSON, the same rows.
    let json: Value = serde_json::from_str(&cli(&env, &["status", "--at", FRIDAY_EVENING]).await.stdout).unwrap();
    assert_eq!(json["totals"]["asleep"], 4);
    assert_eq!(json["services"].as_array().unwrap().len(), 9);
    let calls = json["aws_calls"].as_object().unwrap();
    assert!(calls.keys().all(|op| !op.contains("Update") && !op.contains("TagResource")), "{calls:?}");
    // The reads of one reconcile, at most twice over (plus the one Lambda call for the settings).
    let config = Config::from_lookup(|k| stack_settings().get(k).cloned()).unwrap();
    let inv = Invocation { mode: Mode::Reconcile, now: at(FRIDAY_EVENING), dry_run: true, force: false };
    let reconcile = run(&AwsFleet::new(&moto.sdk_config().await), &config, inv, None).await.unwrap();
    let (status_reads, reconcile_reads): (u64, u32) =
        (calls.values().filter_map(Value::as_u64).sum(), reconcile.aws_calls.values().sum());
    println!("status: {status_reads} AWS reads, a dry-run reconcile {reconcile_reads}");
    assert!(status_reads <= 2 * u64::from(reconcile_reads), "{calls:?} vs {:?}", reconcile.aws_calls);

    // On a terminal (a pty from util-linux's `script`): the table by default, in colour, unless
    // NO_COLOR is set.
    let on_tty = |no_colour: bool| {
        let mut env = env.clone();
        if no_colour {
            env.push(("NO_COLOR".into(), "1".into()));
        }
        let command =
            format!("{} status --tag preview-id=pr-101 --at {FRIDAY_EVENING}", env!("CARGO_BIN_EXE_ecs-cost-saver"));
        async move { cli_with(&env, "script", &["-qec", &command, "/dev/null"]).await }
    };
    let coloured = on_tty(false).await;
    assert_eq!(coloured.code, 0, "{}", coloured.stderr);
    assert!(coloured.stdout.contains("\u{1b}[34masleep\u{1b}[0m"), "{:?}", coloured.stdout);
    let plain = on_tty(true).await.stdout.replace("\r\n", "\n");
    assert_eq!(
        plain,
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/status-tag.txt")).unwrap()
    );

    let explain = cli(&env, &["explain", "previews/pr-101-api", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    // moto stamps the deployment with the real clock.
    let deployed = explain.stdout.split("last deployment (").nth(1).and_then(|rest| rest.split(')').next()).unwrap();
    golden("explain.txt", &explain.stdout.replace(deployed, "<deployed>"));

    let next = cli(&env, &["next", "--hours", "72", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    golden("next.txt", &next.stdout);

    let seen = lambda.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|r| r == &format!("GET /2015-03-31/functions/{STACK}-reconcile/configuration")),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_and_wake_change_only_what_they_name() {
    let (moto, sdk, seeder) = fleet_asleep_on_friday_evening().await;
    let lambda = FakeLambda::start(sdk).await;
    let env = env_for(&moto, &lambda);
    let before = seeder.snapshot(&DEMO_CLUSTERS).await;

    // Asleep since Friday 20:00; a keep-alive makes the next reconcile wake it.
    let kept = cli(&env, &["keep-alive", "previews/pr-101-web", "--hours", "2", "--format", "table"]).await;
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    let after = seeder.snapshot(&DEMO_CLUSTERS).await;
    let until = after["previews/pr-101-web"].tags["cost-saver:keep-alive"].clone();
    let written = DateTime::parse_from_rfc3339(&until).unwrap().with_timezone(&Utc);
    let hours = (written - Utc::now()).num_minutes();
    assert!((118..=120).contains(&hours), "{until}: 2 hours from now");
    let masked = kept.stdout.replace(&until, "<until>").replace(&written.to_rfc3339(), "<until>");
    golden("keep-alive.txt", &masked);
    let until_local = cli(
        &env,
        &["keep-alive", "previews/pr-101-web", "--until", &(written + chrono::Duration::hours(1)).to_rfc3339()],
    )
    .await;
    assert_eq!(until_local.code, 0, "{}", until_local.stderr);
    let json: Value = serde_json::from_str(&until_local.stdout).unwrap();
    assert_eq!(
        json["keep_alive_until"],
        (written + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    for (name, state) in &before {
        if name != "previews/pr-101-web" {
            assert_eq!(&after[name], state, "{name} untouched");
        }
    }

    let refused = cli(&env, &["keep-alive", "dev-tools/ledger-replica", "--hours", "2"]).await;
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert_eq!(
        refused.stderr.trim(),
        "ecs-cost-saver: dev-tools/ledger-replica is protected (protected: Environment=production on the service): the tool never touches it"
    );
    let cleared = cli(&env, &["keep-alive", "previews/pr-101-web", "--clear", "--json"]).await;
    assert_eq!(cleared.code, 0, "{}", cleared.stderr);
    assert!(!seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"].tags.contains_key("cost-saver:keep-alive"));

    // Wake through the stack's function: pr-101 wakes with its saved counts, the rest sleeps on.
    let woken = cli(&env, &["wake", "--tag", "preview-id=pr-101", "--hours", "2", "--format", "table"]).await;
    assert_eq!(woken.code, 0, "{}", woken.stderr);
    let until = woken.stdout.lines().last().unwrap().split(' ').nth(3).unwrap().trim_end_matches(':').to_string();
    golden("wake.txt", &woken.stdout.replace(&until, "<until>"));
    let now = seeder.snapshot(&DEMO_CLUSTERS).await;
    assert_eq!((now["previews/pr-101-web"].desired, now["previews/pr-101-api"].desired), (2, 3));
    assert_eq!(now["dev-tools/search"].desired, 0);
    let seen = lambda.seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|r| r.ends_with(&format!("/{STACK}-wake/invocations"))).count(), 1, "{seen:?}");

    let protected = cli(&env, &["wake", "dev-tools/ledger-replica", "--hours", "1"]).await;
    assert_eq!(protected.code, 5, "{}", protected.stderr);
    assert!(
        protected.stderr.starts_with(&format!("ecs-cost-saver: {STACK}-wake: Protected: refused")),
        "{}",
        protected.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_one_line_with_a_documented_exit_code() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    seed_demo_fleet(&Seeder::new(&sdk)).await;
    let lambda = FakeLambda::start(sdk).await;
    let env = env_for(&moto, &lambda);
    let cases: [(&[&str], i32, &str); 12] = [
        (&["explain", "pr-404"], 4, "ecs-cost-saver: no environment pr-404"),
        (&["status", "--cluster", "nope"], 4, "ecs-cost-saver: no cluster nope"),
        (&["next", "--cluster", "nope"], 4, "ecs-cost-saver: no cluster nope"),
        (&["--stack", "garbled", "--local-config", "wake", "previews", "--hours", "1"], 1, "ecs-cost-saver: garbled-wake answered with something that is not JSON: <html>502 Bad Gateway</html>"),
        (&["explain", "previews/nope"], 4, "ecs-cost-saver: no service previews/nope (or it is not ACTIVE)"),
        (&["status-of-nothing"], 2, ""),
        (&["explain", "nope/web"], 4, "ecs-cost-saver: no cluster nope"),
        (&["--stack", "other", "status"], 4, "ecs-cost-saver: no stack `other`: there is no function other-reconcile here (set --stack or ECS_COST_SAVER_STACK, or use --local-config)"),
        (&["keep-alive", "previews/pr-101-web", "--until", "2020-01-01T00:00:00Z"], 2, "ecs-cost-saver: keep-alive until 2020-01-01T00:00:00+00:00 is in the past"),
        (&["keep-alive", "payments-prod/checkout", "--hours", "1"], 5, "ecs-cost-saver: payments-prod/checkout is protected (protected: Environment=prod on the cluster): the tool never touches it"),
        (&["wake", "previews/nope", "--hours", "1"], 4, "ecs-cost-saver: previews-saver-wake: NotFound: not found: service nope in cluster previews"),
        (&["--stack", "other", "--local-config", "wake", "previews", "--hours", "1"], 4, "ecs-cost-saver: no function other-wake (set --stack or ECS_COST_SAVER_STACK)"),
    ];
    for (args, code, message) in cases {
        let ran = cli(&env, args).await;
        if code == 2 {
            assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
            continue;
        }
        assert_eq!((ran.code, ran.stderr.trim()), (code, message), "{args:?}");
        assert!(ran.stdout.is_empty(), "{args:?}: {}", ran.stdout);
    }
    let usage = cli(&env, &["keep-alive", "previews/pr-101-web"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    // A service's ARN names it too (issue 20); anything else that starts like one is refused.
    let arn =
        cli(&env, &["explain", "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web", "--format", "table"])
            .await;
    assert_eq!(arn.code, 0, "{}", arn.stderr);
    assert!(arn.stdout.starts_with("previews/pr-101-web at "), "{}", arn.stdout);
    let not = cli(&env, &["explain", "arn:aws:ecs:us-east-1:123456789012:cluster/previews"]).await;
    assert_eq!(not.code, 2);
    assert!(not.stderr.contains("is not an ECS service ARN"), "{}", not.stderr);

    // No credentials anywhere: one line, exit 3, before any call.
    let bare: Vec<(String, String)> =
        env.iter().filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET")).cloned().collect();
    let ran = cli(&bare, &["status"]).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.starts_with("ecs-cost-saver: no AWS credentials"), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
}

/// Issue 19: an environment's name works wherever a service's does, and `status --by service` is
/// the table from before environments.
#[tokio::test(flavor = "multi_thread")]
async fn environment_names_work_wherever_a_service_does() {
    let (moto, sdk, seeder) = fleet_asleep_on_friday_evening().await;
    let lambda = FakeLambda::start(sdk).await;
    let env = env_for(&moto, &lambda);

    let flat = cli(&env, &["status", "--by", "service", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    assert_eq!(flat.code, 0, "{}", flat.stderr);
    golden("status-by-service.txt", &flat.stdout);
    let json: Value = serde_json::from_str(&cli(&env, &["status", "--at", FRIDAY_EVENING]).await.stdout).unwrap();
    assert_eq!(json["environments"][0]["environment"], "pr-101");
    assert_eq!(json["environments"][0]["members"], json!(["previews/pr-101-api", "previews/pr-101-web"]));
    assert_eq!(json["environments"][0]["asleep_tasks"], 5);
    let only = cli(&env, &["status", "--environment", "pr-101", "--at", FRIDAY_EVENING, "--json"]).await;
    let only: Value = serde_json::from_str(&only.stdout).unwrap();
    assert_eq!(only["services"].as_array().unwrap().len(), 2, "{only:#}");

    let explained = cli(&env, &["explain", "pr-101", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    assert_eq!(explained.code, 0, "{}", explained.stderr);
    assert!(
        explained.stdout.contains("previews/pr-101-api at ") && explained.stdout.contains("previews/pr-101-web at ")
    );
    let next = cli(&env, &["next", "--environment", "pr-101", "--hours", "72", "--at", FRIDAY_EVENING, "--json"]).await;
    let next: Value = serde_json::from_str(&next.stdout).unwrap();
    let names: Vec<&str> = next.as_array().unwrap().iter().map(|u| u["service"].as_str().unwrap()).collect();
    assert!(names.len() >= 2 && names.iter().all(|n| n.starts_with("pr-101-")), "{next:#}");

    // A keep-alive on the environment: on every member, nothing else.
    let before = seeder.snapshot(&DEMO_CLUSTERS).await;
    let kept = cli(&env, &["keep-alive", "pr-101", "--hours", "2", "--json"]).await;
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    let after = seeder.snapshot(&DEMO_CLUSTERS).await;
    let keep = |name: &str| after[name].tags.get("cost-saver:keep-alive").cloned();
    assert!(keep("previews/pr-101-web").is_some());
    assert_eq!(keep("previews/pr-101-web"), keep("previews/pr-101-api"));
    for (name, state) in &before {
        if !name.starts_with("previews/pr-101-") {
            assert_eq!(&after[name], state, "{name} untouched");
        }
    }

    let woken = cli(&env, &["wake", "--environment", "pr-101", "--hours", "2", "--json"]).await;
    assert_eq!(woken.code, 0, "{}", woken.stderr);
    let now = seeder.snapshot(&DEMO_CLUSTERS).await;
    assert_eq!((now["previews/pr-101-web"].desired, now["previews/pr-101-api"].desired), (2, 3));
    assert_eq!(now["dev-tools/search"].desired, 0);
}

/// Issue 20: with the stack's TARGETS, `status` and `next` read every target (this shell's
/// credentials assume each spoke role) and say where each service is; a target that cannot be
/// read fails the command by name after the others are shown; `explain` and `keep-alive` need
/// to know which target, from `--account`/`--region` or the service's ARN.
#[tokio::test(flavor = "multi_thread")]
async fn status_and_next_over_every_target_say_where_each_service_is() {
    use testkit::fault_proxy::{Call, Fault, FaultProxy};
    let moto = Moto::start();
    for (k, (account, region)) in
        [("111111111111", "eu-west-1"), ("111111111111", "us-east-2"), ("222222222222", "eu-west-1")].iter().enumerate()
    {
        let s = Seeder::new(&testkit::account_config(&moto, account, region).await);
        s.cluster("previews", &[("Environment", "preview")]).await;
        s.cluster("prod", &[("Environment", "prod")]).await;
        s.service("previews", "web", 1 + k as i32, &[]).await;
        s.service("prod", "db", 2, &[]).await;
    }
    let refuse = Arc::new(|c: &Call| {
        (c.operation == "sts:AssumeRole" && c.body.contains("444444444444")).then_some(Fault::AccessDenied)
    });
    let proxy = FaultProxy::start(moto.port, refuse).await;
    let mut env: Vec<(String, String)> = moto.env().into_iter().filter(|(k, _)| k != "AWS_ENDPOINT_URL").collect();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint.clone()));
    for (k, v) in stack_settings() {
        env.push((k, v));
    }
    let targets = "111111111111:eu-west-1,111111111111:us-east-2,222222222222:eu-west-1";
    env.push(("TARGETS".into(), format!("{targets},444444444444:eu-west-1")));

    let status =
        cli(&env, &["--local-config", "status", "--by", "service", "--at", FRIDAY_EVENING, "--format", "table"]).await;
    assert_eq!(status.code, 1, "{}", status.stderr);
    golden("status-targets.txt", &status.stdout);
    assert!(
        status
            .stderr
            .starts_with("ecs-cost-saver: 1 target(s) could not be read: 444444444444:eu-west-1: cannot assume"),
        "{}",
        status.stderr
    );
    let json: Value =
        serde_json::from_str(&cli(&env, &["--local-config", "status", "--at", FRIDAY_EVENING]).await.stdout).unwrap();
    assert_eq!(json["totals"]["services"], 3, "{json:#}");
    assert_eq!(json["targets_failed"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["services"][0]["account"], "111111111111");

    // Only one account: nothing refused, nothing failed.
    let one = cli(
        &env,
        &["--local-config", "--account", "222222222222", "next", "--at", FRIDAY_EVENING, "--format", "table"],
    )
    .await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(one.stdout.contains("ACCOUNT") && one.stdout.contains("222222222222  eu-west-1"), "{}", one.stdout);
    assert!(!one.stdout.contains("111111111111"), "{}", one.stdout);

    let which = cli(&env, &["--local-config", "explain", "previews/web", "--at", FRIDAY_EVENING]).await;
    assert_eq!(which.code, 2, "{}", which.stderr);
    assert!(
        which.stderr.contains("the stack works on 4 targets") && which.stderr.contains("--account and --region"),
        "{}",
        which.stderr
    );
    let arn = "arn:aws:ecs:us-east-2:111111111111:service/previews/web";
    let kept = cli(&env, &["--local-config", "keep-alive", arn, "--hours", "2", "--format", "json"]).await;
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    let kept: Value = serde_json::from_str(&kept.stdout).unwrap();
    assert_eq!(kept["state"], "kept-alive", "{kept:#}");
    let there = Seeder::new(&testkit::account_config(&moto, "111111111111", "us-east-2").await);
    assert!(there.snapshot(&["previews"]).await["previews/web"].tags.contains_key("cost-saver:keep-alive"));
    let elsewhere = Seeder::new(&testkit::account_config(&moto, "111111111111", "eu-west-1").await);
    assert!(!elsewhere.snapshot(&["previews"]).await["previews/web"].tags.contains_key("cost-saver:keep-alive"));

    // Without TARGETS, --account is refused rather than ignored.
    env.retain(|(k, _)| k != "TARGETS");
    let refused = cli(&env, &["--local-config", "--account", "111111111111", "status"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--account and --region need the stack's TARGETS"), "{}", refused.stderr);
}
