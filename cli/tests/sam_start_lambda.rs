//! Issue 18: `sam local start-lambda` serving the `sam build` artifacts in containers (the
//! template's environment plus `events/local-env.json`), against moto on the container bridge:
//! a Lambda `Invoke` sent to its endpoint, as `aws lambda invoke --endpoint-url` sends it, and the
//! engineers' `ecs-cost-saver wake` pointed at it with `AWS_ENDPOINT_URL_LAMBDA`.
//!
//! Needs Docker and `sam build`: `scripts/test.sh` runs it (`--ignored`) after both.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda as lambda;
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::{Config, Invocation, Mode};
use serde_json::Value;
use testkit::sam::{bridge_address, local_env_vars, sam_local};
use testkit::{event_file, project_root, seed_demo_fleet, Moto, Seeder, DEMO_CLUSTERS};

/// `sam local start-lambda` in its own process group, stopped with it.
struct StartLambda {
    child: Child,
    port: u16,
}

impl Drop for StartLambda {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn start_lambda(env_vars: &PathBuf) -> StartLambda {
    let port = testkit::free_port();
    let log = std::fs::File::create(project_root().join("target/sam-start-lambda.log")).unwrap();
    let child = sam_local(&["start-lambda", "--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--env-vars")
        .arg(env_vars)
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("sam: run scripts/setup.sh");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "sam local start-lambda did not listen on {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
    StartLambda { child, port }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker and `sam build`: scripts/test.sh runs it"]
async fn invoke_and_the_cli_s_wake_go_through_sam_local_start_lambda() {
    let moto = Moto::start_at(&bridge_address(), testkit::free_port());
    let sdk = moto.sdk_config().await;
    let seeder = Seeder::new(&sdk);
    seed_demo_fleet(&seeder).await;
    let before = seeder.snapshot(&DEMO_CLUSTERS).await;
    let friday = chrono::DateTime::parse_from_rfc3339("2026-11-20T20:00:00Z").unwrap().to_utc();
    let config = Config::from_lookup(|_| None).unwrap();
    let inv = Invocation { mode: Mode::ScaleDown, now: friday, dry_run: false, force: false };
    run(&AwsFleet::new(&sdk), &config, inv, None).await.unwrap();
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"].desired, 0);

    let sam = start_lambda(&local_env_vars(moto.port));
    let endpoint = format!("http://127.0.0.1:{}", sam.port);

    // What `aws lambda invoke --endpoint-url ... --function-name WakeFunction` sends.
    let client = lambda::Client::from_conf(
        lambda::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(120)).build(),
            )
            .build(),
    );
    let plan = std::fs::read_to_string(event_file("wake-dry-run.json")).unwrap();
    let out = client.invoke().function_name("WakeFunction").payload(plan.into_bytes().into()).send().await.unwrap();
    assert_eq!(out.function_error(), None);
    let answer: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(answer["dry_run"], true, "{answer:#}");
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"].desired, 0, "a dry run wakes nothing");

    // The engineers' command, its Lambda calls sent to start-lambda, its reads to moto. SAM names
    // the stack `local`, so `<stack>-wake` is `local-wake`.
    let cli = Command::new(env!("CARGO_BIN_EXE_ecs-cost-saver"))
        .args(["--stack", "local", "--local-config", "--format", "json", "wake", "previews/pr-101-web", "--hours", "2"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ENDPOINT_URL_LAMBDA", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&cli.stdout), String::from_utf8_lossy(&cli.stderr));
    assert!(cli.status.success(), "ecs-cost-saver wake: {stdout}\n{stderr}");
    let web = &seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"];
    assert_eq!(web.desired, before["previews/pr-101-web"].desired, "woken through start-lambda: {stdout}");
    assert!(web.tags.contains_key("cost-saver:keep-alive"), "{stdout}");
    drop(sam);
}
