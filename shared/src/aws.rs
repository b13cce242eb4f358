//! The AWS adapter: the one module that names `aws_sdk_*` types. It converts them into the
//! domain types and counts every call it makes, per operation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_applicationautoscaling as aas;
use aws_sdk_cloudwatch as cw;
use aws_sdk_ecs as ecs;
use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_resourcegroupstagging as rgt;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use crate::cost::TaskSize;
use crate::fleet::{CallError, ChangeService, FleetQuery, Observation, ReadFleet, ReadTraffic, Selector};
use crate::model::{Bounds, Fresh, ListenerRule, ServiceId, Tags};

mod client;
mod discovery;
pub mod hub;
mod load_balancers;
mod request_counts;

use client::{call_error, RetryCounter};
pub use client::{retry_config, Timeouts};
use discovery::{add_service, non_negative, target_groups};

/// AWS limits per call: `DescribeServices` takes 10 services, `DescribeClusters` 100,
/// `DescribeScalableTargets` 50 resource ids, `ListServices` and `GetResources` pages of 100.
const DESCRIBE_SERVICES_MAX: usize = 10;
const DESCRIBE_CLUSTERS_MAX: usize = 100;
const SCALABLE_TARGET_IDS_MAX: usize = 50;
const PAGE_SIZE: i32 = 100;
/// Read calls in flight at once (clusters described, target and task definition batches): enough
/// to hide latency, few enough to stay inside the ECS read bucket next to everyone's deploys.
const READ_CONCURRENCY: usize = 8;

/// Every read this adapter makes, named as the summary names them (`tagging:` is IAM's `tag:`);
/// the template must allow each (tests/contract/template_guard.rs).
pub const READ_OPERATIONS: [&str; 13] = [
    "tagging:GetResources",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeClusters",
    "ecs:DescribeTaskDefinition",
    "application-autoscaling:DescribeScalableTargets",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeLoadBalancers",
    "cloudwatch:GetMetricData",
];

/// Every write this adapter makes, named as IAM names the actions; the template's guard policy
/// must deny each of them on protected resources (tests/contract/template_guard.rs).
pub const WRITE_OPERATIONS: [&str; 9] = [
    TAG_RESOURCE,
    UNTAG_RESOURCE,
    UPDATE_SERVICE,
    REGISTER_SCALABLE_TARGET,
    load_balancers::CREATE_TARGET_GROUP,
    load_balancers::REGISTER_TARGETS,
    load_balancers::ADD_TAGS,
    load_balancers::MODIFY_RULE,
    load_balancers::DELETE_TARGET_GROUP,
];
const TAG_RESOURCE: &str = "ecs:TagResource";
const UNTAG_RESOURCE: &str = "ecs:UntagResource";
const UPDATE_SERVICE: &str = "ecs:UpdateService";
const REGISTER_SCALABLE_TARGET: &str = "application-autoscaling:RegisterScalableTarget";

/// The SDK configuration from the standard chain: `AWS_ENDPOINT_URL`, `AWS_REGION`, credentials.
/// An endpoint variable set to nothing counts as unset (the template declares
/// `AWS_ENDPOINT_URL: ""` for `sam local`); an image without CA certificates is an error naming
/// the cause, where the SDK would panic.
pub async fn env_config() -> Result<aws_config::SdkConfig, String> {
    for empty in crate::startup::empty_endpoint_variables(|k| std::env::var(k).ok()) {
        // Before any client or thread reads the environment: start-up, one task.
        std::env::remove_var(empty);
    }
    crate::startup::check_trust_store()?;
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(retry_config()).load().await)
}

pub struct AwsFleet {
    ecs: ecs::Client,
    aas: aas::Client,
    tagging: rgt::Client,
    elb: elb::Client,
    cloudwatch: cw::Client,
    calls: Mutex<BTreeMap<String, u32>>,
    retries: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl AwsFleet {
    /// Clients from `env_config`, with `timeouts` on every call (the waker's are shorter: a
    /// browser waits).
    pub async fn from_env(timeouts: Timeouts) -> Result<AwsFleet, String> {
        Ok(AwsFleet::with_timeouts(&env_config().await?, timeouts))
    }

    /// Clients from `config`, with the default `Timeouts` on every call.
    pub fn new(config: &aws_config::SdkConfig) -> AwsFleet {
        AwsFleet::with_timeouts(config, Timeouts::default())
    }

    pub fn with_timeouts(config: &aws_config::SdkConfig, timeouts: Timeouts) -> AwsFleet {
        let retries = Arc::new(Mutex::new(BTreeMap::new()));
        let counter = |service| RetryCounter { service, retries: retries.clone() };
        let limits = timeouts.config();
        AwsFleet {
            ecs: ecs::Client::from_conf(
                ecs::config::Builder::from(config).timeout_config(limits.clone()).interceptor(counter("ecs")).build(),
            ),
            aas: aas::Client::from_conf(
                aas::config::Builder::from(config)
                    .timeout_config(limits.clone())
                    .interceptor(counter("application-autoscaling"))
                    .build(),
            ),
            tagging: rgt::Client::from_conf(
                rgt::config::Builder::from(config)
                    .timeout_config(limits.clone())
                    .interceptor(counter("tagging"))
                    .build(),
            ),
            cloudwatch: cw::Client::from_conf(
                cw::config::Builder::from(config)
                    .timeout_config(limits.clone())
                    .interceptor(counter("cloudwatch"))
                    .build(),
            ),
            elb: elb::Client::from_conf(
                elb::config::Builder::from(config)
                    .timeout_config(limits)
                    .interceptor(counter("elasticloadbalancing"))
                    .build(),
            ),
            calls: Mutex::new(BTreeMap::new()),
            retries,
        }
    }

    /// A fleet whose load balancer and CloudWatch calls go to the given clients (tests with
    /// `aws-smithy-mocks`, for what moto cannot answer); every other call goes to `config`.
    #[cfg(test)]
    pub(crate) fn with_load_balancing(
        config: &aws_config::SdkConfig,
        elb: elb::Client,
        cloudwatch: cw::Client,
    ) -> AwsFleet {
        AwsFleet { elb, cloudwatch, ..AwsFleet::new(config) }
    }

    fn count(&self, operation: &'static str) {
        *self.calls.lock().expect("call counter poisoned").entry(operation.to_string()).or_insert(0) += 1;
    }
}

impl ReadFleet for AwsFleet {
    async fn observe(&self, query: &FleetQuery) -> Result<Observation, CallError> {
        let mut warnings = Vec::new();
        let mut by_cluster: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let in_scope = async {
            match query.in_scope {
                true => self.tagged(&["ecs:cluster", "ecs:service"], &query.scope_tag_key, None).await,
                false => Ok(vec![]),
            }
        };
        let carrying_saved = async {
            match &query.also_tagged {
                Some(key) => self.tagged(&["ecs:service"], key, None).await,
                None => Ok(vec![]),
            }
        };
        let (in_scope, carrying_saved) = futures_util::try_join!(in_scope, carrying_saved)?;
        let mut scoped_clusters = Vec::new();
        for (arn, tags) in in_scope {
            if arn.contains(":cluster/") {
                let scoped = tags
                    .get(&query.scope_tag_key)
                    .is_some_and(|v| query.scope_values.contains(&v.trim().to_lowercase()));
                if scoped {
                    scoped_clusters.push(arn);
                }
            } else {
                add_service(&mut by_cluster, arn, &mut warnings);
            }
        }
        for (arn, _) in carrying_saved {
            add_service(&mut by_cluster, arn, &mut warnings);
        }
        for arn in self.list_services_of(&scoped_clusters).await? {
            add_service(&mut by_cluster, arn, &mut warnings);
        }
        let services = self.describe_grouped(&by_cluster, &mut warnings).await?;
        Ok(Observation { services, warnings, missing: vec![] })
    }

    async fn select(&self, selector: &Selector) -> Result<Observation, CallError> {
        let mut warnings = Vec::new();
        let mut missing = Vec::new();
        let mut by_cluster: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        match selector {
            Selector::Service { cluster, service } => {
                if self.cluster_tags(std::slice::from_ref(cluster), &mut warnings).await?.is_empty() {
                    missing.push(format!("cluster {cluster}"));
                } else {
                    by_cluster.entry(cluster.clone()).or_default().insert(service.clone());
                }
            }
            Selector::Cluster { cluster } => {
                if self.cluster_tags(std::slice::from_ref(cluster), &mut warnings).await?.is_empty() {
                    missing.push(format!("cluster {cluster}"));
                } else {
                    for arn in self.list_services(cluster).await? {
                        add_service(&mut by_cluster, arn, &mut warnings);
                    }
                }
            }
            Selector::Tag { key, value } => {
                self.add_tagged(key, value, &mut by_cluster, &mut warnings).await?;
                if by_cluster.is_empty() {
                    missing.push(format!("any ECS service or cluster tagged {key}={value}"));
                }
            }
            Selector::Environment { name, keys } => {
                for key in keys {
                    self.add_tagged(key, name, &mut by_cluster, &mut warnings).await?;
                }
                if by_cluster.is_empty() {
                    missing.push(format!("environment {name} (no ECS service or cluster tagged with it)"));
                }
            }
        }
        let services = self.describe_grouped(&by_cluster, &mut warnings).await?;
        if let Selector::Service { cluster, service } = selector {
            if missing.is_empty() && !services.iter().any(|s| s.id.name == *service && s.is_active()) {
                missing.push(format!("service {service} in cluster {cluster}"));
            }
        }
        Ok(Observation { services, warnings, missing })
    }

    async fn scalable_targets(&self, ids: &[ServiceId]) -> Result<BTreeMap<ServiceId, Bounds>, CallError> {
        let by_resource: BTreeMap<String, &ServiceId> = ids.iter().map(|id| (id.scaling_resource_id(), id)).collect();
        let resource_ids: Vec<String> = by_resource.keys().cloned().collect();
        let chunks: Vec<Vec<String>> = resource_ids.chunks(SCALABLE_TARGET_IDS_MAX).map(<[String]>::to_vec).collect();
        let batches: Vec<_> = stream::iter(chunks)
            .map(|chunk| async move { self.scalable_target_batch(&chunk).await })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut targets = BTreeMap::new();
        for batch in batches {
            for (resource_id, bounds) in batch? {
                if let Some(id) = by_resource.get(&resource_id) {
                    targets.insert((*id).clone(), bounds);
                }
            }
        }
        Ok(targets)
    }

    async fn task_sizes(&self, task_definitions: &[String]) -> BTreeMap<String, Result<TaskSize, String>> {
        let distinct: BTreeSet<String> = task_definitions.iter().cloned().collect();
        stream::iter(distinct)
            .map(|def| async move {
                let size = self.task_size(&def).await;
                (def, size)
            })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await
    }

    fn calls(&self) -> BTreeMap<String, u32> {
        self.calls.lock().expect("call counter poisoned").clone()
    }

    fn retries(&self) -> BTreeMap<String, u32> {
        self.retries.lock().expect("retry counter poisoned").clone()
    }
}

impl ReadTraffic for AwsFleet {
    async fn load_balancers_of(&self, target_groups: &[String]) -> Result<Vec<(String, Vec<String>)>, CallError> {
        self.elb_load_balancers_of(target_groups).await
    }

    async fn listener_rules(
        &self,
        load_balancers: &[String],
        tags_for: &[String],
    ) -> Result<Vec<ListenerRule>, CallError> {
        self.elb_listener_rules(load_balancers, tags_for).await
    }

    async fn request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        self.elb_request_counts(target_groups, since, until).await
    }

    async fn internet_facing(&self, load_balancers: &[String]) -> Result<BTreeMap<String, bool>, CallError> {
        self.elb_internet_facing(load_balancers).await
    }

    async fn waking_groups(&self, marker: &str) -> Result<Vec<(String, Tags)>, CallError> {
        self.tagged(&["elasticloadbalancing:targetgroup"], marker, None).await
    }
}

impl ChangeService for AwsFleet {
    async fn current(&self, ids: &[ServiceId], key: &str) -> Result<Vec<Fresh>, CallError> {
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for id in ids {
            by_cluster.entry(&id.cluster).or_default().push(id.arn.clone());
        }
        let mut found = Vec::new();
        for (cluster, arns) in by_cluster {
            let described = match self.describe_services(cluster, &arns).await {
                Ok(d) => d.0,
                // A deleted cluster's services no longer exist; the other clusters' still do.
                Err(e) if e.code.as_deref() == Some("ClusterNotFoundException") => continue,
                Err(e) => return Err(e),
            };
            for s in described {
                if s.status() != Some(crate::model::ACTIVE) {
                    continue;
                }
                let Some(id) = s.service_arn().and_then(ServiceId::from_arn) else { continue };
                let tag = s.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string);
                found.push(Fresh {
                    id,
                    desired: non_negative(s.desired_count()),
                    tag,
                    target_groups: target_groups(&s),
                });
            }
        }
        Ok(found)
    }

    async fn tag(&self, id: &ServiceId, key: &str, value: &str) -> Result<(), CallError> {
        const OP: &str = TAG_RESOURCE;
        self.count(OP);
        let tag = ecs::types::Tag::builder().key(key).value(value).build();
        self.ecs.tag_resource().resource_arn(&id.arn).tags(tag).send().await.map_err(|e| call_error(OP, e))?;
        Ok(())
    }

    async fn untag(&self, id: &ServiceId, key: &str) -> Result<(), CallError> {
        const OP: &str = UNTAG_RESOURCE;
        self.count(OP);
        self.ecs.untag_resource().resource_arn(&id.arn).tag_keys(key).send().await.map_err(|e| call_error(OP, e))?;
        Ok(())
    }

    async fn set_bounds(&self, id: &ServiceId, bounds: Bounds) -> Result<(), CallError> {
        const OP: &str = REGISTER_SCALABLE_TARGET;
        self.count(OP);
        let suspended = aas::types::SuspendedState::builder()
            .dynamic_scaling_in_suspended(bounds.suspended.scale_in)
            .dynamic_scaling_out_suspended(bounds.suspended.scale_out)
            .scheduled_scaling_suspended(bounds.suspended.scheduled)
            .build();
        self.aas
            .register_scalable_target()
            .service_namespace(aas::types::ServiceNamespace::Ecs)
            .scalable_dimension(aas::types::ScalableDimension::EcsServiceDesiredCount)
            .resource_id(id.scaling_resource_id())
            .min_capacity(to_i32(bounds.min))
            .max_capacity(to_i32(bounds.max))
            .suspended_state(suspended)
            .send()
            .await
            .map_err(|e| call_error(OP, e))?;
        Ok(())
    }

    async fn set_desired(&self, id: &ServiceId, desired: u32) -> Result<(), CallError> {
        const OP: &str = UPDATE_SERVICE;
        self.count(OP);
        self.ecs
            .update_service()
            .cluster(&id.cluster)
            .service(&id.name)
            .desired_count(to_i32(desired))
            .send()
            .await
            .map_err(|e| call_error(OP, e))?;
        Ok(())
    }
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
