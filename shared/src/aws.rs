//! The AWS adapter: the one module that names `aws_sdk_*` types. It converts them into the
//! domain types and counts every call it makes, per operation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_applicationautoscaling as aas;
use aws_sdk_cloudwatch as cw;
use aws_sdk_ecs as ecs;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_resourcegroupstagging as rgt;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::cost::{Launch, TaskSize};
use crate::fleet::{CallError, ChangeService, FleetQuery, Observation, ReadFleet, Selector};
use crate::model::{Bounds, Fresh, ObservedService, SchedulingStrategy, ServiceId, Suspension, Tags};

mod load_balancers;

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
pub const READ_OPERATIONS: [&str; 12] = [
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
    load_balancers::CREATE_RULE,
    load_balancers::DELETE_RULE,
    load_balancers::DELETE_TARGET_GROUP,
];
const TAG_RESOURCE: &str = "ecs:TagResource";
const UNTAG_RESOURCE: &str = "ecs:UntagResource";
const UPDATE_SERVICE: &str = "ecs:UpdateService";
const REGISTER_SCALABLE_TARGET: &str = "application-autoscaling:RegisterScalableTarget";

pub struct AwsFleet {
    ecs: ecs::Client,
    aas: aas::Client,
    tagging: rgt::Client,
    elb: elb::Client,
    cloudwatch: cw::Client,
    calls: Mutex<BTreeMap<String, u32>>,
    retries: Arc<Mutex<BTreeMap<String, u32>>>,
}

/// Standard retries (exponential backoff with jitter, retry quota) with 5 attempts instead of 3:
/// ECS limits are shared by every deploy in the account, so throttling is expected at the hours
/// this runs; 5 attempts ride out a burst within the functions' timeout, and the retry quota
/// still stops a storm. Adaptive mode is not used: its client-side rate limiter is per client
/// and experimental; pacing belongs in our own scheduler.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(5)
}

/// Time limits on every call, so a hung or very slow endpoint ends a call with an error instead
/// of holding the function until Lambda kills it without a summary. A healthy AWS answers in
/// well under a second; an attempt gets 5 s, and one operation (all its retries and backoff) 20 s:
/// enough for the standard strategy's longest backoff (1 + 2 + 4 + 8 s over 5 attempts) with
/// throttled answers, which come fast, so the limit never cuts a throttled call's retries short,
/// while a hung call still ends. A service started before the run's deadline (the Lambda's less
/// 90 s) fails at its first hung call, and the summary is logged before Lambda's own timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: std::time::Duration,
    pub attempt: std::time::Duration,
    pub operation: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        use std::time::Duration;
        Timeouts {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(20),
        }
    }
}

impl Timeouts {
    fn config(self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// Counts retried attempts per operation, so the summary can show throttling it rode out.
#[derive(Debug)]
struct RetryCounter {
    service: &'static str,
    retries: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl ecs::config::Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "RetryCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &ecs::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &ecs::config::RuntimeComponents,
        cfg: &mut ecs::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::{orchestrator::Metadata, retries::RequestAttempts};
        if cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1) {
            let operation = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or("unknown");
            let key = format!("{}:{operation}", self.service);
            *self.retries.lock().expect("retry counter poisoned").entry(key).or_insert(0) += 1;
        }
        Ok(())
    }
}

impl AwsFleet {
    /// Clients from the standard chain: `AWS_ENDPOINT_URL`, `AWS_REGION`, credentials.
    pub async fn from_env() -> AwsFleet {
        let config =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(retry_config()).load().await;
        AwsFleet::new(&config)
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

    /// ARNs and tags of resources of `types` carrying `key` (with `value`, or any value), all pages.
    async fn tagged(&self, types: &[&str], key: &str, value: Option<&str>) -> Result<Vec<(String, Tags)>, CallError> {
        const OP: &str = "tagging:GetResources";
        let filter = rgt::types::TagFilter::builder().key(key).set_values(value.map(|v| vec![v.to_string()])).build();
        let mut pages = self
            .tagging
            .get_resources()
            .set_resource_type_filters(Some(types.iter().map(|t| t.to_string()).collect()))
            .tag_filters(filter)
            .resources_per_page(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(OP);
            let page = page.map_err(|e| call_error(OP, e))?;
            for mapping in page.resource_tag_mapping_list() {
                let tags = mapping.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                found.push((mapping.resource_arn().unwrap_or_default().to_string(), tags));
            }
        }
        Ok(found)
    }

    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, CallError> {
        const OP: &str = "ecs:ListServices";
        let mut pages = self.ecs.list_services().cluster(cluster).max_results(PAGE_SIZE).into_paginator().send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(OP);
            arns.extend(page.map_err(|e| call_error(OP, e))?.service_arns().iter().cloned());
        }
        Ok(arns)
    }

    async fn cluster_tags(
        &self,
        clusters: &[String],
        warnings: &mut Vec<String>,
    ) -> Result<BTreeMap<String, Tags>, CallError> {
        const OP: &str = "ecs:DescribeClusters";
        let mut tags = BTreeMap::new();
        for chunk in clusters.chunks(DESCRIBE_CLUSTERS_MAX) {
            self.count(OP);
            let out = self
                .ecs
                .describe_clusters()
                .set_clusters(Some(chunk.to_vec()))
                .include(ecs::types::ClusterField::Tags)
                .send()
                .await
                .map_err(|e| call_error(OP, e))?;
            for c in out.clusters() {
                let name = c.cluster_name().unwrap_or_default().to_string();
                if c.status() == Some("ACTIVE") {
                    tags.insert(name, ecs_tags(c.tags()));
                } else {
                    warnings.push(format!("cluster {name} is {}, its services skipped", c.status().unwrap_or("?")));
                }
            }
            for f in out.failures() {
                warnings.push(format!(
                    "cluster {} could not be described: {}",
                    f.arn().unwrap_or("?"),
                    f.reason().unwrap_or("?")
                ));
            }
        }
        Ok(tags)
    }

    /// One cluster's services, described in batches of 10, with what could not be described.
    async fn describe_services(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<(Vec<ecs::types::Service>, Vec<String>), CallError> {
        const OP: &str = "ecs:DescribeServices";
        let (mut services, mut warnings) = (Vec::new(), Vec::new());
        for chunk in arns.chunks(DESCRIBE_SERVICES_MAX) {
            self.count(OP);
            let out = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ecs::types::ServiceField::Tags)
                .send()
                .await
                .map_err(|e| call_error(OP, e))?;
            services.extend(out.services().iter().cloned());
            for f in out.failures() {
                warnings.push(format!(
                    "service {} could not be described: {}",
                    f.arn().unwrap_or("?"),
                    f.reason().unwrap_or("?")
                ));
            }
        }
        Ok((services, warnings))
    }

    /// One batch of up to 50 resource ids (`service/<cluster>/<name>`), all pages.
    async fn scalable_target_batch(&self, ids: &[String]) -> Result<Vec<(String, Bounds)>, CallError> {
        const OP: &str = "application-autoscaling:DescribeScalableTargets";
        let mut targets = Vec::new();
        let mut pages = self
            .aas
            .describe_scalable_targets()
            .service_namespace(aas::types::ServiceNamespace::Ecs)
            .scalable_dimension(aas::types::ScalableDimension::EcsServiceDesiredCount)
            .set_resource_ids(Some(ids.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.count(OP);
            for t in page.map_err(|e| call_error(OP, e))?.scalable_targets() {
                let s = t.suspended_state();
                // Emulators send only the flags ever set; a missing flag is `false`.
                let flag = |f: Option<bool>| f.unwrap_or(false);
                let suspended = Suspension {
                    scale_in: flag(s.and_then(|s| s.dynamic_scaling_in_suspended())),
                    scale_out: flag(s.and_then(|s| s.dynamic_scaling_out_suspended())),
                    scheduled: flag(s.and_then(|s| s.scheduled_scaling_suspended())),
                };
                let bounds =
                    Bounds { min: non_negative(t.min_capacity()), max: non_negative(t.max_capacity()), suspended };
                targets.push((t.resource_id().to_string(), bounds));
            }
        }
        Ok(targets)
    }

    async fn task_size(&self, task_definition: &str) -> Result<TaskSize, String> {
        const OP: &str = "ecs:DescribeTaskDefinition";
        self.count(OP);
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| call_error(OP, e).to_string())?;
        let def = out.task_definition().ok_or("the task definition was not returned")?;
        let platform = def.runtime_platform();
        TaskSize::parse(
            def.cpu(),
            def.memory(),
            platform.and_then(|p| p.cpu_architecture()).map(|a| a.as_str()),
            platform.and_then(|p| p.operating_system_family()).map(|o| o.as_str()),
        )
    }
}

impl AwsFleet {
    /// Describes services (ARNs or names) grouped by cluster name, with cluster tags, clusters
    /// in parallel. Services of clusters that are gone are skipped with a warning.
    async fn describe_grouped(
        &self,
        by_cluster: &BTreeMap<String, BTreeSet<String>>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<ObservedService>, CallError> {
        let clusters: Vec<String> = by_cluster.keys().cloned().collect();
        let cluster_tags = self.cluster_tags(&clusters, warnings).await?;
        // Owned items: borrowed ones make the stream's closures higher-ranked, and the future
        // stops being provably `Send`.
        let active: Vec<(String, Vec<String>)> = by_cluster
            .iter()
            .filter(|(cluster, _)| cluster_tags.contains_key(cluster.as_str()))
            .map(|(cluster, names)| (cluster.clone(), names.iter().cloned().collect()))
            .collect();
        let described: Vec<_> = stream::iter(active)
            .map(|(cluster, names)| async move {
                let result = self.describe_services(&cluster, &names).await;
                (cluster, result)
            })
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut services = Vec::new();
        for (cluster, result) in described {
            let (found, problems) = result?;
            warnings.extend(problems);
            let tags = &cluster_tags[&cluster];
            for s in found {
                match observed(&s, &cluster, tags) {
                    Some(o) => services.push(o),
                    None => warnings.push(format!("{cluster}: a service without an ARN or name was returned, skipped")),
                }
            }
        }
        Ok(services)
    }

    /// `list_services` of several clusters in parallel, in the order given.
    async fn list_services_of(&self, clusters: &[String]) -> Result<Vec<String>, CallError> {
        let lists: Vec<_> = stream::iter(clusters.to_vec())
            .map(|c| async move { self.list_services(&c).await })
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        Ok(lists.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }
}

fn add_service(by_cluster: &mut BTreeMap<String, BTreeSet<String>>, arn: String, warnings: &mut Vec<String>) {
    match ServiceId::from_arn(&arn) {
        Some(id) => {
            by_cluster.entry(id.cluster).or_default().insert(arn);
        }
        None => warnings.push(format!("{arn}: not a long-format service ARN (service/<cluster>/<name>), skipped")),
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
                let (clusters, services): (Vec<String>, Vec<String>) = self
                    .tagged(&["ecs:cluster", "ecs:service"], key, Some(value))
                    .await?
                    .into_iter()
                    .map(|(arn, _)| arn)
                    .partition(|arn| arn.contains(":cluster/"));
                for arn in services.into_iter().chain(self.list_services_of(&clusters).await?) {
                    add_service(&mut by_cluster, arn, &mut warnings);
                }
                if by_cluster.is_empty() {
                    missing.push(format!("any ECS service or cluster tagged {key}={value}"));
                }
            }
        }
        let services = self.describe_grouped(&by_cluster, &mut warnings).await?;
        if let Selector::Service { cluster, service } = selector {
            if missing.is_empty() && !services.iter().any(|s| s.id.name == *service && s.status == "ACTIVE") {
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

    async fn woken_by(&self, target_group_arn: &str, key: &str) -> Result<Option<ServiceId>, CallError> {
        let tags = self.elb_tags(&[target_group_arn.to_string()]).await?;
        Ok(tags.iter().find_map(|(_, tags)| ServiceId::from_arn(tags.get(key)?)))
    }

    async fn request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        self.elb_request_counts(target_groups, since, until).await
    }

    async fn waking_groups(&self, key: &str) -> Result<Vec<(String, String)>, CallError> {
        let found = self.tagged(&["elasticloadbalancing:targetgroup"], key, None).await?;
        Ok(found.into_iter().filter_map(|(arn, tags)| Some((arn, tags.get(key)?.clone()))).collect())
    }

    fn calls(&self) -> BTreeMap<String, u32> {
        self.calls.lock().expect("call counter poisoned").clone()
    }

    fn retries(&self) -> BTreeMap<String, u32> {
        self.retries.lock().expect("retry counter poisoned").clone()
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
            for s in self.describe_services(cluster, &arns).await?.0 {
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

fn observed(s: &ecs::types::Service, cluster: &str, cluster_tags: &Tags) -> Option<ObservedService> {
    let arn = s.service_arn()?;
    let id = ServiceId::from_arn(arn).unwrap_or_else(|| ServiceId {
        arn: arn.to_string(),
        cluster: cluster.to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
    });
    let strategy = match s.scheduling_strategy() {
        Some(ecs::types::SchedulingStrategy::Daemon) => SchedulingStrategy::Daemon,
        _ => SchedulingStrategy::Replica,
    };
    let last_deployed_at = s
        .deployments()
        .iter()
        .filter_map(|d| d.created_at())
        .filter_map(to_chrono)
        .max()
        .map(crate::clock::whole_seconds);
    let providers: Vec<&str> = s.capacity_provider_strategy().iter().map(|p| p.capacity_provider()).collect();
    Some(ObservedService {
        id,
        status: s.status().unwrap_or("UNKNOWN").to_string(),
        strategy,
        desired: non_negative(s.desired_count()),
        running: non_negative(s.running_count()),
        tags: ecs_tags(s.tags()),
        cluster_tags: cluster_tags.clone(),
        last_deployed_at,
        scaling: None,
        task_definition: s.task_definition().map(str::to_string),
        launch: Launch::of(s.launch_type().map(|l| l.as_str()), &providers),
        target_groups: target_groups(s),
        requests: None,
    })
}

fn target_groups(s: &ecs::types::Service) -> Vec<String> {
    s.load_balancers().iter().filter_map(|l| l.target_group_arn().map(str::to_string)).collect()
}

fn ecs_tags(tags: &[ecs::types::Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

fn to_chrono(t: &ecs::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Counts arrive as `i32`; AWS never sends negatives, emulators might.
fn non_negative(n: i32) -> u32 {
    n.max(0) as u32
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The one place an SDK error becomes ours, and is classified: retryable when the SDK's own
/// standard retries would have tried again (throttling and transient codes, a 5xx, a timeout, a
/// dropped connection or an unreadable answer).
fn call_error<E>(operation: &'static str, err: ecs::error::SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use ecs::error::SdkError;
    let code = err.code().map(str::to_string);
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error() || code.as_deref().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    };
    CallError {
        operation,
        message: err.message().map(str::to_string).unwrap_or_else(|| DisplayErrorContext(&err).to_string()),
        code,
        retryable,
    }
}

/// Error codes the SDK's standard retry strategy treats as throttling or transient.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
];

#[cfg(test)]
mod timeout_tests {
    use super::*;
    use std::time::Duration;

    /// The operation limit must leave a throttled call every retry the strategy allows: the
    /// longest backoff (full jitter's upper bound at each attempt) plus a quick answer to each
    /// attempt. A hung call is still cut at the limit.
    #[test]
    fn the_operation_limit_fits_every_retry_of_a_throttled_call() {
        let retry = retry_config();
        let waits: Vec<Duration> = (1..retry.max_attempts())
            .map(|k| (retry.initial_backoff() * 2u32.pow(k - 1)).min(retry.max_backoff()))
            .collect();
        let longest_backoff: Duration = waits.iter().sum();
        assert_eq!(longest_backoff, Duration::from_secs(15), "{waits:?}");
        let quick_answers = Duration::from_millis(500) * retry.max_attempts();
        let limits = Timeouts::default();
        assert!(longest_backoff + quick_answers < limits.operation, "{longest_backoff:?} + {quick_answers:?}");
        // ... and never beyond what the run keeps back from the Lambda's deadline for in-flight work.
        assert!(limits.operation * 3 < Duration::from_secs(90));
    }

    #[test]
    fn errors_are_retryable_when_the_sdk_would_retry_them() {
        use aws_smithy_runtime_api::client::result::SdkError;
        use aws_smithy_types::body::SdkBody;
        let answer = |status: u16| HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        let service = |code: &str, status: u16| {
            let meta = aws_smithy_types::error::ErrorMetadata::builder().code(code).message("m").build();
            SdkError::service_error(ecs::operation::update_service::UpdateServiceError::generic(meta), answer(status))
        };
        assert!(call_error("ecs:UpdateService", service("ThrottlingException", 400)).retryable);
        assert!(call_error("ecs:UpdateService", service("ServerException", 500)).retryable);
        assert!(!call_error("ecs:UpdateService", service("AccessDeniedException", 400)).retryable);
        assert!(!call_error("ecs:UpdateService", service("ServiceNotFoundException", 400)).retryable);
        let timeout: SdkError<ecs::operation::update_service::UpdateServiceError, HttpResponse> =
            SdkError::timeout_error("hung");
        assert!(call_error("ecs:UpdateService", timeout).retryable);
    }
}
