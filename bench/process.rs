//! Runs a release `bootstrap` (as `cargo lambda build --release` leaves it) under the minimal
//! Lambda runtime API, once per event, measuring wall time and peak memory.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use testkit::project_root;

use crate::runtime_api::RuntimeApi;

/// The template's function timeout: the deadline the runtime API hands out.
pub const TIMEOUT: Duration = Duration::from_secs(300);

pub fn bootstrap(function: &str) -> PathBuf {
    let path = project_root().join("target/lambda").join(function).join("bootstrap");
    assert!(path.exists(), "{} is missing: run scripts/bench.sh (it builds the release binaries)", path.display());
    path
}

/// What one invocation of a bootstrap measured.
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub response: Value,
    pub emf: Option<String>,
}

pub fn function_env(
    mut env: Vec<(String, String)>,
    function: &str,
    api: &RuntimeApi,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", api.address().as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Runs `function` once on `event`; the process is killed once it has answered.
pub fn invoke(base: Vec<(String, String)>, function: &str, event: Value, extra: &[(&str, &str)]) -> Run {
    let api = RuntimeApi::start(Some(event), TIMEOUT);
    let log = std::env::temp_dir().join(format!("ecs-cost-saver-bench-{function}-{}.log", std::process::id()));
    let mut child = Command::new(bootstrap(function))
        .env_clear()
        .envs(function_env(base, function, &api, extra))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (wall, response) = api.wait_for_answer(TIMEOUT + Duration::from_secs(60));
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let emf =
        std::fs::read_to_string(&log).ok().and_then(|l| l.lines().find(|l| l.contains("\"_aws\"")).map(String::from));
    let _ = std::fs::remove_file(&log);
    Run { wall, peak_rss_kib, response, emf }
}

/// The process's high-water mark of resident memory (`VmHWM`), read while it is still alive.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
