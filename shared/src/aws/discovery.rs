//! Reading the fleet: tagged resources, clusters and their tags, services (10 a call, clusters in
//! parallel), scalable targets in batches of 50, task definitions; and the conversion of ECS's
//! service into the domain's `ObservedService`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_applicationautoscaling as aas;
use aws_sdk_ecs as ecs;
use aws_sdk_resourcegroupstagging as rgt;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use super::{call_error, AwsFleet, DESCRIBE_CLUSTERS_MAX, DESCRIBE_SERVICES_MAX, PAGE_SIZE, READ_CONCURRENCY};
use crate::cost::{Launch, TaskSize};
use crate::fleet::CallError;
use crate::model::{Bounds, ObservedService, SchedulingStrategy, ServiceId, Suspension, Tags};

impl AwsFleet {
    /// ARNs and tags of resources of `types` carrying `key` (with `value`, or any value), all pages.
    pub(super) async fn tagged(
        &self,
        types: &[&str],
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<(String, Tags)>, CallError> {
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

    pub(super) async fn list_services(&self, cluster: &str) -> Result<Vec<String>, CallError> {
        const OP: &str = "ecs:ListServices";
        let mut pages = self.ecs.list_services().cluster(cluster).max_results(PAGE_SIZE).into_paginator().send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(OP);
            arns.extend(page.map_err(|e| call_error(OP, e))?.service_arns().iter().cloned());
        }
        Ok(arns)
    }

    pub(super) async fn cluster_tags(
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
                if c.status() == Some(crate::model::ACTIVE) {
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
    pub(super) async fn describe_services(
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
    pub(super) async fn scalable_target_batch(&self, ids: &[String]) -> Result<Vec<(String, Bounds)>, CallError> {
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

    pub(super) async fn task_size(&self, task_definition: &str) -> Result<TaskSize, String> {
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
    pub(super) async fn describe_grouped(
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

    /// Adds every service tagged `key=value`, and every service of every cluster so tagged.
    pub(super) async fn add_tagged(
        &self,
        key: &str,
        value: &str,
        by_cluster: &mut BTreeMap<String, BTreeSet<String>>,
        warnings: &mut Vec<String>,
    ) -> Result<(), CallError> {
        let (clusters, services): (Vec<String>, Vec<String>) = self
            .tagged(&["ecs:cluster", "ecs:service"], key, Some(value))
            .await?
            .into_iter()
            .map(|(arn, _)| arn)
            .partition(|arn| arn.contains(":cluster/"));
        for arn in services.into_iter().chain(self.list_services_of(&clusters).await?) {
            add_service(by_cluster, arn, warnings);
        }
        Ok(())
    }

    /// `list_services` of several clusters in parallel, in the order given.
    pub(super) async fn list_services_of(&self, clusters: &[String]) -> Result<Vec<String>, CallError> {
        let lists: Vec<_> = stream::iter(clusters.to_vec())
            .map(|c| async move { self.list_services(&c).await })
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        Ok(lists.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }
}

pub(super) fn add_service(
    by_cluster: &mut BTreeMap<String, BTreeSet<String>>,
    arn: String,
    warnings: &mut Vec<String>,
) {
    match ServiceId::from_arn(&arn) {
        Some(id) => {
            by_cluster.entry(id.cluster).or_default().insert(arn);
        }
        None => warnings.push(format!("{arn}: not a long-format service ARN (service/<cluster>/<name>), skipped")),
    }
}

pub(super) fn observed(s: &ecs::types::Service, cluster: &str, cluster_tags: &Tags) -> Option<ObservedService> {
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
        alternate_target_groups: s
            .load_balancers()
            .iter()
            .filter_map(|l| l.advanced_configuration()?.alternate_target_group_arn().map(str::to_string))
            .collect(),
        external_deployments: s
            .deployment_controller()
            .map(|d| d.r#type())
            .filter(|t| **t != ecs::types::DeploymentControllerType::Ecs)
            .map(|t| t.as_str().to_string()),
        requests: None,
        waking: None,
    })
}

pub(super) fn target_groups(s: &ecs::types::Service) -> Vec<String> {
    s.load_balancers().iter().filter_map(|l| l.target_group_arn().map(str::to_string)).collect()
}

pub(super) fn ecs_tags(tags: &[ecs::types::Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

pub(super) fn to_chrono(t: &ecs::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Counts arrive as `i32`; AWS never sends negatives, emulators might.
pub(super) fn non_negative(n: i32) -> u32 {
    n.max(0) as u32
}
