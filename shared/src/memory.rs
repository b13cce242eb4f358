//! An in-memory fleet implementing both capabilities, for testing flows without a network. It
//! discovers the way the AWS adapter does and can fail chosen writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::cost::{Launch, TaskSize};
use crate::fleet::{CallError, ChangeService, FleetQuery, Observation, ReadFleet, ReadTraffic, Selector};
use crate::model::{Bounds, Fresh, ListenerRule, ObservedService, SchedulingStrategy, ServiceId, Tags};

mod faults;
mod load_balancers;
mod metrics;

#[derive(Debug, Clone, PartialEq)]
pub struct MemoryService {
    pub id: ServiceId,
    pub status: String,
    pub strategy: SchedulingStrategy,
    pub desired: u32,
    pub tags: Tags,
    pub last_deployed_at: Option<DateTime<Utc>>,
    pub scaling: Option<Bounds>,
    pub task_definition: Option<String>,
    pub launch: Launch,
    pub target_groups: Vec<String>,
    pub alternate_target_groups: Vec<String>,
    pub external_deployments: Option<String>,
    /// Tasks running, when a test holds them back (starting); `None`: as many as desired.
    pub running: Option<u32>,
}

impl MemoryService {
    pub fn new(cluster: &str, name: &str, desired: u32) -> MemoryService {
        MemoryService {
            id: ServiceId {
                arn: format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{name}"),
                cluster: cluster.to_string(),
                name: name.to_string(),
            },
            status: crate::model::ACTIVE.into(),
            strategy: SchedulingStrategy::Replica,
            desired,
            tags: Tags::new(),
            last_deployed_at: None,
            scaling: None,
            task_definition: None,
            launch: Launch::Fargate,
            target_groups: Vec::new(),
            alternate_target_groups: Vec::new(),
            external_deployments: None,
            running: None,
        }
    }

    /// Registers its tasks in this load balancer target group.
    pub fn behind(mut self, target_group: &str) -> Self {
        self.target_groups.push(target_group.into());
        self
    }

    /// An ECS blue/green deployment's alternate target group, where traffic may be served.
    pub fn alternate(mut self, target_group: &str) -> Self {
        self.alternate_target_groups.push(target_group.into());
        self
    }

    /// Deployed by CodeDeploy (`CODE_DEPLOY`) or an external controller (`EXTERNAL`).
    pub fn deployed_by(mut self, controller: &str) -> Self {
        self.external_deployments = Some(controller.into());
        self
    }

    pub fn runs(mut self, task_definition: &str) -> Self {
        self.task_definition = Some(task_definition.into());
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn autoscaled(mut self, bounds: Bounds) -> Self {
        self.scaling = Some(bounds);
        self
    }
}

#[derive(Default)]
struct State {
    clusters: BTreeMap<String, Tags>,
    services: BTreeMap<String, MemoryService>,
    task_definitions: BTreeMap<String, TaskSize>,
    /// Load balancers: target groups, listeners and their rules.
    elb: load_balancers::Elb,
    /// Requests served: (target group, minute, count), as the load balancer's metrics hold them.
    requests: Vec<(String, DateTime<Utc>, u64)>,
    /// Target groups the metrics leave out of their answer (unknown, as a partial answer makes them).
    unknown_requests: Vec<String>,
    /// How late a minute's requests show in the metrics (zero unless a test says).
    metrics_delay: chrono::Duration,
    calls: BTreeMap<String, u32>,
    writes: u32,
    fail_writes: Vec<u32>,
    throttle_writes: Vec<u32>,
    /// Operations refused with this error code (a quota), every time.
    refused: Vec<(String, String)>,
    log: Vec<String>,
    interleave: Interleave,
    /// How long every call takes (a slow or hung endpoint); zero unless a test says.
    latency: std::time::Duration,
}

impl State {
    /// The failure injected into write number `n`, if any.
    fn injected_failure(&self, operation: &'static str, n: u32) -> Option<CallError> {
        if let Some((_, code)) = self.refused.iter().find(|(op, _)| op == operation) {
            return Some(CallError {
                operation,
                code: Some(code.clone()),
                message: format!("refused as told: {code}"),
                retryable: false,
            });
        }
        let (code, retryable) = if self.fail_writes.contains(&n) {
            ("AccessDeniedException", false)
        } else if self.throttle_writes.contains(&n) {
            ("ThrottlingException", true)
        } else {
            return None;
        };
        Some(CallError {
            operation,
            code: Some(code.into()),
            message: format!("injected failure of write {n}"),
            retryable,
        })
    }
}

/// How calls yield to other tasks, so runs joined together interleave as overlapping invocations
/// would.
#[derive(Default)]
enum Interleave {
    #[default]
    Off,
    /// Once before every call.
    EveryCall,
    /// A seeded-random number of times (0 to 3) before every call: each seed is one
    /// reproducible interleaving, as random delays on the wire would make.
    Random(u64),
}

#[derive(Default)]
pub struct MemoryFleet {
    state: Mutex<State>,
}

impl MemoryFleet {
    pub fn new() -> MemoryFleet {
        MemoryFleet::default()
    }

    pub fn add_cluster(&self, name: &str, tags: &[(&str, &str)]) {
        let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.lock().clusters.insert(name.to_string(), tags);
    }

    pub fn add_task_definition(&self, arn: &str, size: TaskSize) {
        self.lock().task_definitions.insert(arn.into(), size);
    }

    pub fn add_service(&self, service: MemoryService) {
        self.lock().clusters.entry(service.id.cluster.clone()).or_default();
        self.lock().services.insert(service.id.arn.clone(), service);
    }

    pub fn service(&self, cluster: &str, name: &str) -> MemoryService {
        self.lock()
            .services
            .values()
            .find(|s| s.id.cluster == cluster && s.id.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no service {cluster}/{name}"))
    }

    /// Changes a service behind the tool's back, as an engineer or autoscaling would.
    pub fn edit(&self, cluster: &str, name: &str, change: impl FnOnce(&mut MemoryService)) {
        let mut state = self.lock();
        let service = state.services.values_mut().find(|s| s.id.cluster == cluster && s.id.name == name);
        change(service.unwrap_or_else(|| panic!("no service {cluster}/{name}")));
    }

    /// Makes every write and fresh read yield first, so runs joined together interleave at every
    /// call, as overlapping invocations would.
    pub fn interleave_calls(&self) {
        self.lock().interleave = Interleave::EveryCall;
    }

    /// Makes every call (reads included) yield a random number of times, from `seed`.
    pub fn interleave_randomly(&self, seed: u64) {
        // xorshift needs a non-zero state.
        self.lock().interleave = Interleave::Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    }

    /// Every call from now on takes this long (in tokio's clock: pause it to test a hang fast).
    pub fn answer_after(&self, latency: std::time::Duration) {
        self.lock().latency = latency;
    }

    async fn interleave(&self) {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let yields = match &mut self.lock().interleave {
            Interleave::Off => 0,
            Interleave::EveryCall => 1,
            Interleave::Random(state) => {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state % 4
            }
        };
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
    }

    pub fn writes(&self) -> u32 {
        self.lock().writes
    }

    /// Every write done, in order, as `operation cluster/service detail`.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory fleet poisoned")
    }

    fn write(
        &self,
        operation: &'static str,
        id: &ServiceId,
        detail: String,
        change: impl FnOnce(&mut MemoryService),
    ) -> Result<(), CallError> {
        let mut state = self.lock();
        *state.calls.entry(operation.to_string()).or_insert(0) += 1;
        state.writes += 1;
        let n = state.writes;
        if let Some(e) = state.injected_failure(operation, n) {
            return Err(e);
        }
        let Some(service) = state.services.get_mut(&id.arn) else {
            return Err(CallError {
                operation,
                code: Some("ServiceNotFoundException".into()),
                message: format!("{id} not found"),
                retryable: false,
            });
        };
        change(service);
        state.log.push(format!("{operation} {id} {detail}"));
        Ok(())
    }
}

/// Every service carrying one of `keys` with `value`, on itself or its cluster.
fn tagged(state: &State, keys: &[String], value: &str) -> Vec<ObservedService> {
    let has_tag = |tags: &Tags| keys.iter().any(|key| tags.get(key).is_some_and(|v| v == value));
    state
        .services
        .values()
        .filter(|s| has_tag(&s.tags) || state.clusters.get(&s.id.cluster).is_some_and(has_tag))
        .map(|s| MemoryFleet::observed(state, s))
        .collect()
}

impl MemoryFleet {
    fn observed(state: &State, s: &MemoryService) -> ObservedService {
        ObservedService {
            id: s.id.clone(),
            status: s.status.clone(),
            strategy: s.strategy,
            desired: s.desired,
            running: s.running.unwrap_or(s.desired).min(s.desired),
            tags: s.tags.clone(),
            cluster_tags: state.clusters.get(&s.id.cluster).cloned().unwrap_or_default(),
            last_deployed_at: s.last_deployed_at.map(crate::clock::whole_seconds),
            // As from AWS: targets are a separate question (`scalable_targets`).
            scaling: None,
            task_definition: s.task_definition.clone(),
            launch: s.launch,
            target_groups: s.target_groups.clone(),
            alternate_target_groups: s.alternate_target_groups.clone(),
            external_deployments: s.external_deployments.clone(),
            requests: None,
            waking: None,
        }
    }
}

impl ReadFleet for MemoryFleet {
    async fn observe(&self, query: &FleetQuery) -> Result<Observation, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("memory:Observe".into()).or_insert(0) += 1;
        let state = &*state;
        let scoped_cluster = |cluster: &str| {
            state
                .clusters
                .get(cluster)
                .and_then(|t| t.get(&query.scope_tag_key))
                .is_some_and(|v| query.scope_values.contains(&v.trim().to_lowercase()))
        };
        let services = state
            .services
            .values()
            .filter(|s| {
                (query.in_scope && (s.tags.contains_key(&query.scope_tag_key) || scoped_cluster(&s.id.cluster)))
                    || query.also_tagged.as_ref().is_some_and(|k| s.tags.contains_key(k))
            })
            .map(|s| MemoryFleet::observed(state, s))
            .collect();
        Ok(Observation { services, warnings: vec![], missing: vec![] })
    }

    async fn select(&self, selector: &Selector) -> Result<Observation, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("memory:Select".into()).or_insert(0) += 1;
        let state = &*state;
        let (services, missing): (Vec<ObservedService>, Option<String>) = match selector {
            Selector::Service { cluster, .. } if !state.clusters.contains_key(cluster) => {
                (vec![], Some(format!("cluster {cluster}")))
            }
            Selector::Service { cluster, service } => {
                let found: Vec<_> = state
                    .services
                    .values()
                    .filter(|s| s.id.cluster == *cluster && s.id.name == *service)
                    .map(|s| MemoryFleet::observed(state, s))
                    .collect();
                let missing =
                    (!found.iter().any(|s| s.is_active())).then(|| format!("service {service} in cluster {cluster}"));
                (found, missing)
            }
            Selector::Cluster { cluster } if !state.clusters.contains_key(cluster) => {
                (vec![], Some(format!("cluster {cluster}")))
            }
            Selector::Cluster { cluster } => (
                state
                    .services
                    .values()
                    .filter(|s| s.id.cluster == *cluster)
                    .map(|s| MemoryFleet::observed(state, s))
                    .collect(),
                None,
            ),
            Selector::Tag { key, value } => {
                let found = tagged(state, std::slice::from_ref(key), value);
                let missing = found.is_empty().then(|| format!("any ECS service or cluster tagged {key}={value}"));
                (found, missing)
            }
            Selector::Environment { name, keys } => {
                let found = tagged(state, keys, name);
                let missing =
                    found.is_empty().then(|| format!("environment {name} (no ECS service or cluster tagged with it)"));
                (found, missing)
            }
        };
        Ok(Observation { services, warnings: vec![], missing: missing.into_iter().collect() })
    }

    async fn scalable_targets(&self, ids: &[ServiceId]) -> Result<BTreeMap<ServiceId, Bounds>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("memory:ScalableTargets".into()).or_insert(0) += 1;
        Ok(ids.iter().filter_map(|id| Some((id.clone(), state.services.get(&id.arn)?.scaling?))).collect())
    }

    async fn task_sizes(&self, task_definitions: &[String]) -> BTreeMap<String, Result<TaskSize, String>> {
        let mut state = self.lock();
        let distinct: BTreeSet<&String> = task_definitions.iter().collect();
        *state.calls.entry("memory:TaskDefinition".into()).or_insert(0) += distinct.len() as u32;
        distinct
            .into_iter()
            .map(|def| {
                let size = state.task_definitions.get(def).copied().ok_or_else(|| format!("{def} not found"));
                (def.clone(), size)
            })
            .collect()
    }

    fn calls(&self) -> BTreeMap<String, u32> {
        self.lock().calls.clone()
    }
}

impl ReadTraffic for MemoryFleet {
    async fn load_balancers_of(&self, target_groups: &[String]) -> Result<Vec<(String, Vec<String>)>, CallError> {
        self.elb_load_balancers_of(target_groups).await
    }

    async fn listener_rules(
        &self,
        load_balancers: &[String],
        _tags_for: &[String],
    ) -> Result<Vec<ListenerRule>, CallError> {
        self.memory_listener_rules(load_balancers).await
    }

    async fn waking_groups(&self, marker: &str) -> Result<Vec<(String, Tags)>, CallError> {
        self.elb_waking_groups(marker).await
    }

    async fn internet_facing(&self, load_balancers: &[String]) -> Result<BTreeMap<String, bool>, CallError> {
        self.elb_internet_facing(load_balancers).await
    }

    async fn request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        self.memory_request_counts(target_groups, since, until).await
    }
}

impl ChangeService for MemoryFleet {
    async fn current(&self, ids: &[ServiceId], key: &str) -> Result<Vec<Fresh>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("ecs:DescribeServices".into()).or_insert(0) += 1;
        let found = ids
            .iter()
            .filter_map(|id| {
                let s = state.services.get(&id.arn)?;
                Some(Fresh {
                    id: id.clone(),
                    desired: s.desired,
                    tag: s.tags.get(key).cloned(),
                    target_groups: s.target_groups.clone(),
                })
            })
            .collect();
        Ok(found)
    }

    async fn tag(&self, id: &ServiceId, key: &str, value: &str) -> Result<(), CallError> {
        self.interleave().await;
        self.write("ecs:TagResource", id, format!("{key}={value}"), |s| {
            s.tags.insert(key.to_string(), value.to_string());
        })
    }

    async fn untag(&self, id: &ServiceId, key: &str) -> Result<(), CallError> {
        self.interleave().await;
        self.write("ecs:UntagResource", id, key.to_string(), |s| {
            s.tags.remove(key);
        })
    }

    async fn set_bounds(&self, id: &ServiceId, b: Bounds) -> Result<(), CallError> {
        self.interleave().await;
        self.write(
            "application-autoscaling:RegisterScalableTarget",
            id,
            format!("min={} max={} suspended={}", b.min, b.max, b.suspended),
            |s| {
                s.scaling = Some(b);
                // Re-registering pulls desired into [min, max], as Application Auto Scaling does.
                s.desired = s.desired.clamp(b.min, b.max);
            },
        )
    }

    async fn set_desired(&self, id: &ServiceId, desired: u32) -> Result<(), CallError> {
        self.interleave().await;
        self.write("ecs:UpdateService", id, format!("desired={desired}"), |s| s.desired = desired)
    }
}
