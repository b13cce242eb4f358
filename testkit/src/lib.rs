//! The test kit: a moto server started on a free 127.0.0.1 port and stopped on drop, SDK
//! clients pointed at it, fleet seeding and read-back, the functions served by `cargo lambda
//! watch`, an Application Load Balancer on moto (`alb`) and a fault-injecting proxy
//! (`fault_proxy`). Used by the integration tests, the CLI's tests, the benchmarks and the demo.

pub mod account_router;
pub mod alb;
mod cbor_json;
pub mod fault_proxy;
pub mod sam;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_applicationautoscaling as aas;
use aws_sdk_ecs as ecs;

/// The workspace root (the kit is used from the root crate, `cli/` and `testkit/` itself).
pub fn project_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if dir.join("template.yaml").exists() {
        dir
    } else {
        dir.parent().expect("a crate inside the workspace").to_path_buf()
    }
}

pub fn venv_tool(name: &str) -> PathBuf {
    let path = project_root().join(".venv/bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/setup.sh first", path.display());
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, within: Duration, what: &str, child: &mut Child) {
    wait_for(("127.0.0.1", port), within, what, child)
}

fn wait_for(address: (&str, u16), within: Duration, what: &str, child: &mut Child) {
    let (host, port) = address;
    let start = Instant::now();
    while TcpStream::connect((host, port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on port {port}");
        }
        assert!(start.elapsed() < within, "{what} did not listen on port {port} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process that is killed, with its process group, when dropped.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        // cargo lambda watch runs the functions as its children: stop the whole process group,
        // which `spawn_in_own_group` made this child the leader of. Never call with pid <= 1.
        let pgid = self.0.id() as libc::pid_t;
        if pgid > 1 {
            // SAFETY: kill(2) with a negative pid signals exactly that process group.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above; whatever of the group is still alive is killed.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_in_own_group(cmd: &mut Command) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// A moto server of our own.
pub struct Moto {
    _process: Owned,
    pub port: u16,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Moto {
        Moto::start_at("127.0.0.1", port)
    }

    /// On `host` (the container bridge's address, for `sam local`'s containers).
    pub fn start_at(host: &str, port: u16) -> Moto {
        let mut cmd = Command::new(venv_tool("moto_server"));
        cmd.args(["-H", host, "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        // Owned before the wait: a server that never listens is still stopped.
        let mut child = Owned(spawn_in_own_group(&mut cmd));
        wait_for((host, port), Duration::from_secs(30), "moto_server", &mut child.0);
        Moto { _process: child, port, endpoint: format!("http://{host}:{port}") }
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_at(&self.endpoint, aws_config::retry::RetryConfig::standard()).await
    }

    /// The variables a function process needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// A VPC with two subnets in moto's EC2, for load balancers: `(vpc, subnets)`. Made with boto3
/// from the project's venv (installed with moto), so the tests need no EC2 SDK crate.
pub fn ec2_network(moto: &Moto) -> (String, Vec<String>) {
    let script = r#"
import boto3, json, sys
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
           for i, z in ((1, "a"), (2, "b"))]
print(json.dumps([vpc, subnets]))
"#;
    let out = Command::new(venv_tool("python")).args(["-c", script, &moto.endpoint]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Moto as another account sees it, in `region`: the credentials of a role assumed there (moto
/// keeps its state per account and region, and lets any role be assumed).
pub async fn account_config(moto: &Moto, account: &str, region: &str) -> SdkConfig {
    let base = moto.sdk_config().await;
    let answer = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/ecs-cost-saver-spoke"))
        .role_session_name("seeder")
        .send()
        .await
        .unwrap();
    let c = answer.credentials().unwrap();
    let creds = aws_sdk_ecs::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "assumed",
    );
    base.to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(creds))
        .build()
}

/// An organization in moto with the default account as its management account, and
/// `accounts` new member accounts (their ids are moto's to choose) in one organizational unit:
/// `(ou, accounts)`.
pub async fn organization_unit(moto: &Moto, accounts: usize) -> (String, Vec<String>) {
    use aws_sdk_organizations as org;
    let client = org::Client::new(&moto.sdk_config().await);
    client.create_organization().feature_set(org::types::OrganizationFeatureSet::All).send().await.unwrap();
    let roots = client.list_roots().send().await.unwrap();
    let root = roots.roots()[0].id().unwrap().to_string();
    let ou = client.create_organizational_unit().parent_id(&root).name("previews").send().await.unwrap();
    let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..accounts {
        let made = client
            .create_account()
            .account_name(format!("previews-{i}"))
            .email(format!("previews-{i}@example.com"))
            .send()
            .await
            .unwrap();
        let id = made.create_account_status().unwrap().account_id().unwrap().to_string();
        client.move_account().account_id(&id).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();
        ids.push(id);
    }
    ids.sort();
    (ou, ids)
}

/// SDK configuration for any local endpoint (moto, or a fault proxy in front of it).
pub async fn sdk_config_at(endpoint: &str, retry: aws_config::retry::RetryConfig) -> SdkConfig {
    let creds = aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "static");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .retry_config(retry)
        .load()
        .await
}

/// One service as the test wants it and as it reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub desired: i32,
    pub tags: BTreeMap<String, String>,
    /// min, max, suspended (in, out, scheduled); a flag moto never got reads as false.
    pub target: Option<(i32, i32, [bool; 3])>,
}

pub struct Seeder {
    pub ecs: ecs::Client,
    pub aas: aas::Client,
    task_definition_ready: std::sync::atomic::AtomicBool,
}

impl Seeder {
    pub fn new(config: &SdkConfig) -> Seeder {
        Seeder {
            ecs: ecs::Client::new(config),
            aas: aas::Client::new(config),
            task_definition_ready: Default::default(),
        }
    }

    pub async fn cluster(&self, name: &str, tags: &[(&str, &str)]) {
        self.ecs.create_cluster().cluster_name(name).set_tags(ecs_tags(tags)).send().await.unwrap();
    }

    /// A Fargate service of the default family `app` (0.25 vCPU, 0.5 GB, x86); returns its ARN.
    pub async fn service(&self, cluster: &str, name: &str, desired: i32, tags: &[(&str, &str)]) -> String {
        if !self.task_definition_ready.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.task_definition("app", "256", "512", "X86_64").await;
        }
        self.service_running(cluster, name, desired, tags, "app").await
    }

    /// Registers a Fargate task definition `family` of `cpu` units and `memory` MiB on `arch`
    /// (`X86_64` or `ARM64`).
    pub async fn task_definition(&self, family: &str, cpu: &str, memory: &str, arch: &str) {
        let container = ecs::types::ContainerDefinition::builder().name("app").image("nginx").build();
        let platform = ecs::types::RuntimePlatform::builder().cpu_architecture(arch.into()).build();
        self.ecs
            .register_task_definition()
            .family(family)
            .container_definitions(container)
            .requires_compatibilities(ecs::types::Compatibility::Fargate)
            .cpu(cpu)
            .memory(memory)
            .runtime_platform(platform)
            .network_mode(ecs::types::NetworkMode::Awsvpc)
            .send()
            .await
            .unwrap();
    }

    /// A Fargate service running the latest revision of `family` (see `task_definition`); returns
    /// its ARN.
    /// A service whose tasks register in `target_group` (container `app`, port 80).
    pub async fn service_behind(
        &self,
        cluster: &str,
        name: &str,
        desired: i32,
        tags: &[(&str, &str)],
        target_group: &str,
    ) -> String {
        if !self.task_definition_ready.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.task_definition("app", "256", "512", "X86_64").await;
        }
        let lb = ecs::types::LoadBalancer::builder()
            .target_group_arn(target_group)
            .container_name("app")
            .container_port(80)
            .build();
        let out = self
            .ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition("app")
            .desired_count(desired)
            .launch_type(ecs::types::LaunchType::Fargate)
            .load_balancers(lb)
            .set_tags(ecs_tags(tags))
            .send()
            .await
            .unwrap();
        out.service().unwrap().service_arn().unwrap().to_string()
    }

    pub async fn service_running(
        &self,
        cluster: &str,
        name: &str,
        desired: i32,
        tags: &[(&str, &str)],
        family: &str,
    ) -> String {
        let out = self
            .ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(family)
            .desired_count(desired)
            .launch_type(ecs::types::LaunchType::Fargate)
            .set_tags(ecs_tags(tags))
            .send()
            .await
            .unwrap();
        out.service().unwrap().service_arn().unwrap().to_string()
    }

    pub async fn autoscale(&self, cluster: &str, name: &str, min: i32, max: i32, suspended: [bool; 3]) {
        let mut state = aas::types::SuspendedState::builder();
        // Send only the flags that are on, as a console user who never touched the others would.
        if suspended[0] {
            state = state.dynamic_scaling_in_suspended(true);
        }
        if suspended[1] {
            state = state.dynamic_scaling_out_suspended(true);
        }
        if suspended[2] {
            state = state.scheduled_scaling_suspended(true);
        }
        self.aas
            .register_scalable_target()
            .service_namespace(aas::types::ServiceNamespace::Ecs)
            .scalable_dimension(aas::types::ScalableDimension::EcsServiceDesiredCount)
            .resource_id(format!("service/{cluster}/{name}"))
            .min_capacity(min)
            .max_capacity(max)
            .suspended_state(state.build())
            .send()
            .await
            .unwrap();
    }

    pub async fn tag(&self, arn: &str, key: &str, value: &str) {
        let tag = ecs::types::Tag::builder().key(key).value(value).build();
        self.ecs.tag_resource().resource_arn(arn).tags(tag).send().await.unwrap();
    }

    pub async fn set_desired(&self, cluster: &str, name: &str, desired: i32) {
        self.ecs.update_service().cluster(cluster).service(name).desired_count(desired).send().await.unwrap();
    }

    /// Every service of the given clusters, keyed `cluster/name`.
    pub async fn snapshot(&self, clusters: &[&str]) -> BTreeMap<String, ServiceState> {
        let mut out = BTreeMap::new();
        for cluster in clusters {
            let arns = self.ecs.list_services().cluster(*cluster).send().await.unwrap().service_arns().to_vec();
            for chunk in arns.chunks(10) {
                let described = self
                    .ecs
                    .describe_services()
                    .cluster(*cluster)
                    .set_services(Some(chunk.to_vec()))
                    .include(ecs::types::ServiceField::Tags)
                    .send()
                    .await
                    .unwrap();
                for s in described.services() {
                    if s.status() != Some("ACTIVE") {
                        continue;
                    }
                    let tags = s
                        .tags()
                        .iter()
                        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap_or_default().to_string()))
                        .collect();
                    let name = s.service_name().unwrap();
                    out.insert(
                        format!("{cluster}/{name}"),
                        ServiceState { desired: s.desired_count(), tags, target: None },
                    );
                }
            }
            let ids: Vec<String> =
                out.keys().filter(|k| k.starts_with(&format!("{cluster}/"))).map(|k| format!("service/{k}")).collect();
            for chunk in ids.chunks(50) {
                let targets = self
                    .aas
                    .describe_scalable_targets()
                    .service_namespace(aas::types::ServiceNamespace::Ecs)
                    .set_resource_ids(Some(chunk.to_vec()))
                    .send()
                    .await
                    .unwrap();
                for t in targets.scalable_targets() {
                    let s = t.suspended_state();
                    let flag = |f: Option<bool>| f.unwrap_or(false);
                    let flags = [
                        flag(s.and_then(|s| s.dynamic_scaling_in_suspended())),
                        flag(s.and_then(|s| s.dynamic_scaling_out_suspended())),
                        flag(s.and_then(|s| s.scheduled_scaling_suspended())),
                    ];
                    let key = t.resource_id().trim_start_matches("service/").to_string();
                    if let Some(state) = out.get_mut(&key) {
                        state.target = Some((t.min_capacity(), t.max_capacity(), flags));
                    }
                }
            }
        }
        out
    }
}

fn ecs_tags(tags: &[(&str, &str)]) -> Option<Vec<ecs::types::Tag>> {
    (!tags.is_empty()).then(|| tags.iter().map(|(k, v)| ecs::types::Tag::builder().key(*k).value(*v).build()).collect())
}

/// The small demo fleet: scoped, protected, kept-alive, autoscaled and deliberately-zero services,
/// and one environment (`pr-101`: web and api).
pub const DEMO_CLUSTERS: [&str; 3] = ["previews", "dev-tools", "payments-prod"];

pub async fn seed_demo_fleet(s: &Seeder) {
    s.cluster("previews", &[("Environment", "preview")]).await;
    s.cluster("dev-tools", &[]).await;
    s.cluster("payments-prod", &[("Environment", "prod")]).await;
    // One environment of two members: they wake, stay awake and idle-sleep together.
    let pr_101 = [("preview-id", "pr-101"), ("cost-saver:environment", "pr-101")];
    s.service("previews", "pr-101-web", 2, &pr_101).await;
    s.service("previews", "pr-101-api", 3, &pr_101).await;
    s.autoscale("previews", "pr-101-api", 2, 6, [false, false, false]).await;
    s.service("previews", "pr-102-web", 1, &[("cost-saver:keep-alive", "true")]).await;
    s.service("previews", "pr-103-worker", 0, &[]).await;
    s.service("dev-tools", "grafana", 1, &[("Environment", "dev")]).await;
    s.service("dev-tools", "search", 4, &[("Environment", "dev")]).await;
    s.autoscale("dev-tools", "search", 2, 8, [false, false, true]).await;
    s.service("dev-tools", "nightly-etl", 2, &[("Environment", "dev"), ("cost-saver:schedule", "Mon-Sun 00:00-24:00")])
        .await;
    s.service("dev-tools", "ledger-replica", 2, &[("Environment", "production")]).await;
    s.service("payments-prod", "checkout", 6, &[("Environment", "dev")]).await;
}

/// How every end-to-end test starts: the functions built, a moto server of its own seeded with
/// the demo fleet, and the fleet as seeded.
pub struct DemoFleet {
    pub moto: Moto,
    pub sdk: SdkConfig,
    pub seeder: Seeder,
    pub before: BTreeMap<String, ServiceState>,
}

impl DemoFleet {
    pub async fn start() -> DemoFleet {
        build_functions();
        let moto = Moto::start();
        let sdk = moto.sdk_config().await;
        let seeder = Seeder::new(&sdk);
        seed_demo_fleet(&seeder).await;
        let before = seeder.snapshot(&DEMO_CLUSTERS).await;
        DemoFleet { moto, sdk, seeder, before }
    }
}

/// `cargo lambda watch` serving the workspace's functions, stopped on drop.
pub struct LambdaWatch {
    _process: Owned,
    pub port: u16,
}

impl LambdaWatch {
    pub fn start(env: &[(String, String)]) -> LambdaWatch {
        let port = free_port();
        let root = project_root();
        let log = std::fs::File::create(root.join("target/cargo-lambda-watch.log")).unwrap();
        let mut cmd = Command::new(venv_tool("cargo-lambda"));
        cmd.current_dir(&root)
            .args(["lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .env_remove("AWS_PROFILE")
            .envs(env.iter().cloned())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let mut child = spawn_in_own_group(&mut cmd);
        wait_for_port(port, Duration::from_secs(120), "cargo lambda watch", &mut child);
        LambdaWatch { _process: Owned(child), port }
    }

    /// Invokes `function` with a payload file; `Ok(response)` or `Err(error text)`.
    pub fn invoke_file(&self, function: &str, file: &Path) -> Result<serde_json::Value, String> {
        self.invoke(function, &["--data-file", file.to_str().unwrap()])
    }

    pub fn invoke_ascii(&self, function: &str, data: &str) -> Result<serde_json::Value, String> {
        self.invoke(function, &["--data-ascii", data])
    }

    fn invoke(&self, function: &str, data: &[&str]) -> Result<serde_json::Value, String> {
        let out = Command::new(venv_tool("cargo-lambda"))
            .current_dir(project_root())
            .args(["lambda", "invoke", function, "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .args(["--output-format", "json"])
            .args(data)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            serde_json::from_str(&stdout).map_err(|e| format!("response is not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

/// Builds every binary of the workspace up front (the five functions and `demo`), so the first
/// invoke does not wait for a compile. One `cargo build --bins` with no `-p`: the same package
/// selection, so the same feature resolution, as the `cargo run --bin <function>` that
/// `cargo lambda watch` runs. Selecting packages here (`-p scale-down …`) resolves other features
/// and, on a cold `target/`, compiles the whole SDK once more for nothing.
pub fn build_binaries() {
    static BUILT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status =
            Command::new(cargo).current_dir(project_root()).args(["build", "--quiet", "--bins"]).status().unwrap();
        status.success()
    });
    assert!(built, "building the binaries failed");
}

/// Builds the function binaries up front (see `build_binaries`).
pub fn build_functions() {
    build_binaries();
}

/// Builds the `demo` binary (this kit's) and returns its path.
pub fn build_demo() -> PathBuf {
    build_binaries();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| project_root().join("target"), PathBuf::from);
    target.join("debug/demo")
}

pub fn event_file(name: &str) -> PathBuf {
    let path = project_root().join("events").join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}
