//! What the SAM tests share (`tests/sam`, `cli/tests/sam_start_lambda.rs`): the container
//! bridge's address, the committed env-vars file pointed at a test's server, and `sam local`
//! as the README's recipe runs it.

use std::path::PathBuf;
use std::process::Command;

use crate::{event_file, project_root, venv_tool};

/// The bridge's address on this machine (dockerd's `docker0`): the containers reach a server
/// there, and nothing beyond this machine does. Docker's own answer names it only when the
/// bridge was configured by hand, so it is read from the interface.
pub fn bridge_address() -> String {
    let out = Command::new("ip").args(["-4", "-o", "addr", "show", "docker0"]).output().expect("ip(8)");
    let text = String::from_utf8_lossy(&out.stdout);
    let address = text.split_whitespace().skip_while(|w| *w != "inet").nth(1).and_then(|a| a.split('/').next());
    address.unwrap_or_else(|| panic!("no docker0 bridge ({text}): run scripts/setup.sh --containers")).to_string()
}

/// `events/local-env.json` as committed, its port made `port`, in a file of its own.
pub fn local_env_vars(port: u16) -> PathBuf {
    let committed = std::fs::read_to_string(event_file("local-env.json")).unwrap();
    assert!(committed.contains("http://host.docker.internal:5000"), "{committed}");
    let file = std::env::temp_dir().join(format!("local-env-{port}.json"));
    std::fs::write(&file, committed.replace(":5000", &format!(":{port}"))).unwrap();
    file
}

/// `sam local <subcommand>` (whole arguments: the common options follow it) from the project folder on the `sam build` artifacts (x86_64), the
/// base image as it is, `host.docker.internal` on the bridge, and a tester's dummy credentials.
pub fn sam_local(subcommand: &[&str]) -> Command {
    let built = project_root().join(".aws-sam/build/template.yaml");
    assert!(built.exists(), "{} is missing: sam build --parameter-overrides Architecture=x86_64", built.display());
    let mut cmd = Command::new(venv_tool("sam"));
    cmd.current_dir(project_root())
        .arg("local")
        .args(subcommand)
        .args(["--skip-pull-image", "--parameter-overrides", "Architecture=x86_64", "--region", "us-east-1"])
        .args(["--add-host", "host.docker.internal:host-gateway"])
        .env("SAM_CLI_TELEMETRY", "0")
        // What a tester's shell holds; moto takes any credentials.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_ENDPOINT_URL");
    cmd
}
