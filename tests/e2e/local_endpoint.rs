//! Issue 9, item 12: the README's recipe for running a function against a local endpoint starts
//! with `scripts/local-endpoint.sh` (`demo --serve`): it must leave a seeded endpoint running,
//! write the variables to reach it, and stop it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{build_demo, free_port, project_root, sdk_config_at, Seeder, DEMO_CLUSTERS};

#[tokio::test(flavor = "multi_thread")]
async fn issue9_item12_the_local_endpoint_recipe_serves_a_seeded_fleet_until_stopped() {
    let port = free_port();
    let mut serve = Command::new(build_demo())
        .args(["--serve", "--port", &port.to_string()])
        .current_dir(project_root())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("Ctrl-C stops the endpoint")) {
        printed.push(lines.next().expect("demo --serve ended early").unwrap());
    }
    let text = printed.join("\n");
    let endpoint = format!("http://127.0.0.1:{port}");
    assert!(text.contains(&format!("Local AWS endpoint ready: {endpoint}")), "{text}");
    assert!(text.contains("cargo lambda invoke scale-down --data-file events/friday-evening.json"), "{text}");

    // The variables file says how to reach it, with dummy credentials.
    let env_file = std::fs::read_to_string(project_root().join("target/local-endpoint.env")).unwrap();
    for line in [format!("export AWS_ENDPOINT_URL={endpoint}"), "export AWS_ACCESS_KEY_ID=testing".into()] {
        assert!(env_file.lines().any(|l| l == line), "{line} missing from {env_file}");
    }
    for event in ["friday-evening.json", "monday-morning.json"] {
        assert!(project_root().join("events").join(event).exists());
    }

    // The fleet is there.
    let seeder = Seeder::new(&sdk_config_at(&endpoint, aws_config::retry::RetryConfig::standard()).await);
    let fleet = seeder.snapshot(&DEMO_CLUSTERS).await;
    assert!(fleet.contains_key("previews/pr-101-web") && fleet.len() >= 5, "{fleet:?}");

    // Ctrl-C (SIGINT) stops the endpoint with it.
    unsafe { libc::kill(serve.id() as i32, libc::SIGINT) };
    let status = serve.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "moto still listening after the stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The quick start's `scripts/demo.sh` and the local-endpoint recipe run the demo by name,
/// `cargo run --quiet --bin demo`: that must name exactly one executable of the workspace. No
/// `-p`: the same package selection as `cargo lambda watch`'s `cargo run --bin <function>`, so
/// one feature resolution and one build of the SDK serve the demo and the functions it runs.
/// An unknown flag makes it print its usage and stop, without starting anything.
#[test]
fn the_scripts_run_the_demo_binary_by_name() {
    for script in ["scripts/demo.sh", "scripts/local-endpoint.sh"] {
        let text = std::fs::read_to_string(project_root().join(script)).unwrap();
        assert!(text.contains("cargo run --quiet --bin demo"), "{script}");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(project_root())
        .args(["run", "--quiet", "--bin", "demo", "--", "--no-such-flag"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("usage: demo [--serve [--host ADDRESS] [--port N]]"), "{stderr}");
}
