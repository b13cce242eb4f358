//! Elastic Load Balancing for the waking routing (see `routing`): listener rules read into the
//! domain's `ListenerRule`, the waking target group, companion rules, target health.

use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use elb::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    PathPatternConditionConfig, QueryStringConditionConfig, QueryStringKeyValuePair, SourceIpConditionConfig, Tag,
    TargetDescription, TargetHealthStateEnum, TargetTypeEnum,
};

use std::collections::BTreeMap;

use aws_sdk_cloudwatch as cw;
use chrono::{DateTime, Utc};

use super::{call_error, AwsFleet};
use crate::fleet::{CallError, RouteRequests};
use crate::model::{ListenerRule, RuleCondition, Tags};

/// `DescribeTags` takes at most 20 resources.
const DESCRIBE_TAGS_MAX: usize = 20;
/// Markers a server repeats would page forever; no listener has this many pages of rules.
const MAX_PAGES: usize = 100;

pub(super) const CREATE_TARGET_GROUP: &str = "elasticloadbalancing:CreateTargetGroup";
pub(super) const REGISTER_TARGETS: &str = "elasticloadbalancing:RegisterTargets";
pub(super) const CREATE_RULE: &str = "elasticloadbalancing:CreateRule";
pub(super) const DELETE_RULE: &str = "elasticloadbalancing:DeleteRule";
pub(super) const DELETE_TARGET_GROUP: &str = "elasticloadbalancing:DeleteTargetGroup";

/// `GetMetricData` takes at most 500 queries a call.
const METRIC_QUERIES_MAX: usize = 500;
/// Five-minute sums: a week's window stays far below the datapoints one call returns.
const METRIC_PERIOD_SECONDS: i32 = 300;

impl AwsFleet {
    /// `RequestCount` sums per target group, over each of its load balancers.
    pub(super) async fn elb_request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        const GROUPS: &str = "elasticloadbalancing:DescribeTargetGroups";
        const OP: &str = "cloudwatch:GetMetricData";
        let mut counts: BTreeMap<String, u64> = target_groups.iter().map(|t| (t.clone(), 0)).collect();
        // The metric's dimensions: `targetgroup/<name>/<id>` and `app/<name>/<id>`.
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        for chunk in target_groups.chunks(20) {
            self.count(GROUPS);
            let out = self
                .elb
                .describe_target_groups()
                .set_target_group_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| call_error(GROUPS, e))?;
            for g in out.target_groups() {
                let Some(arn) = g.target_group_arn() else { continue };
                let Some((_, group_dim)) = arn.split_once(":targetgroup/") else { continue };
                for lb in g.load_balancer_arns() {
                    if let Some((_, lb_dim)) = lb.split_once(":loadbalancer/") {
                        pairs.push((arn.to_string(), format!("targetgroup/{group_dim}"), lb_dim.to_string()));
                    }
                }
            }
        }
        let start = cw::primitives::DateTime::from_secs(since.timestamp());
        let end = cw::primitives::DateTime::from_secs(until.timestamp());
        for (batch, chunk) in pairs.chunks(METRIC_QUERIES_MAX).enumerate() {
            let queries: Vec<cw::types::MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, group, lb))| {
                    let dimension =
                        |name: &str, value: &str| cw::types::Dimension::builder().name(name).value(value).build();
                    let metric = cw::types::Metric::builder()
                        .namespace("AWS/ApplicationELB")
                        .metric_name("RequestCount")
                        .dimensions(dimension("TargetGroup", group))
                        .dimensions(dimension("LoadBalancer", lb))
                        .build();
                    let stat = cw::types::MetricStat::builder()
                        .metric(metric)
                        .period(METRIC_PERIOD_SECONDS)
                        .stat("Sum")
                        .build();
                    cw::types::MetricDataQuery::builder()
                        .id(format!("q{batch}x{i}"))
                        .metric_stat(stat)
                        .return_data(true)
                        .build()
                })
                .collect();
            let mut pages = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries))
                .start_time(start)
                .end_time(end)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                self.count(OP);
                let page = page.map_err(|e| call_error(OP, e))?;
                for result in page.metric_data_results() {
                    let Some(i) =
                        result.id().and_then(|id| id.split_once('x')).and_then(|(_, i)| i.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let Some((arn, _, _)) = chunk.get(i) else { continue };
                    let sum: f64 = result.values().iter().sum();
                    *counts.entry(arn.clone()).or_insert(0) += sum.max(0.0).round() as u64;
                }
            }
        }
        Ok(counts)
    }

    /// Tags of up to 20 resources.
    pub(super) async fn elb_tags(&self, arns: &[String]) -> Result<Vec<(String, Tags)>, CallError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        self.count(OP);
        let out = self
            .elb
            .describe_tags()
            .set_resource_arns(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| call_error(OP, e))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .map(|d| {
                let tags = d
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                    .collect();
                (d.resource_arn().unwrap_or_default().to_string(), tags)
            })
            .collect())
    }
}

fn listener_rule(listener: &str, r: &elb::types::Rule) -> ListenerRule {
    let priority = match (r.is_default(), r.priority()) {
        (Some(true), _) | (_, Some("default")) | (_, None) => None,
        (_, Some(p)) => p.parse().ok(),
    };
    let mut unsupported = None;
    let conditions = r
        .conditions()
        .iter()
        .filter_map(|c| match from_sdk_condition(c) {
            Ok(c) => Some(c),
            Err(why) => {
                unsupported = Some(why);
                None
            }
        })
        .collect();
    let mut forwards_to = Vec::new();
    for action in r.actions() {
        if action.r#type() != Some(&ActionTypeEnum::Forward) {
            continue;
        }
        forwards_to.extend(action.target_group_arn().map(str::to_string));
        if let Some(config) = action.forward_config() {
            forwards_to.extend(config.target_groups().iter().filter_map(|t| t.target_group_arn().map(str::to_string)));
        }
    }
    if r.actions().iter().any(|a| a.r#type() != Some(&ActionTypeEnum::Forward)) && !forwards_to.is_empty() {
        unsupported.get_or_insert_with(|| "it forwards after an authentication or other action".into());
    }
    forwards_to.sort();
    forwards_to.dedup();
    ListenerRule {
        arn: r.rule_arn().unwrap_or_default().to_string(),
        listener: listener.to_string(),
        priority,
        conditions,
        forwards_to,
        tags: Tags::new(),
        listener_tags: Tags::new(),
        unsupported,
    }
}

fn from_sdk_condition(c: &elb::types::RuleCondition) -> Result<RuleCondition, String> {
    let field = c.field().unwrap_or_default().to_string();
    if !c.regex_values().is_empty() {
        return Err(format!("a regular expression in its {field} condition"));
    }
    let or_values = |config: Option<&[String]>| match config {
        Some(v) if !v.is_empty() => v.to_vec(),
        _ => c.values().to_vec(),
    };
    let mut out = RuleCondition { field: field.clone(), header: None, values: vec![], pairs: vec![] };
    match field.as_str() {
        "host-header" => out.values = or_values(c.host_header_config().map(|h| h.values())),
        "path-pattern" => out.values = or_values(c.path_pattern_config().map(|p| p.values())),
        "http-request-method" => out.values = or_values(c.http_request_method_config().map(|m| m.values())),
        "source-ip" => out.values = or_values(c.source_ip_config().map(|s| s.values())),
        "http-header" => {
            let config = c.http_header_config().ok_or("an http-header condition without its header")?;
            out.header = config.http_header_name().map(str::to_string);
            out.values = config.values().to_vec();
        }
        "query-string" => {
            let config = c.query_string_config().ok_or("a query-string condition without pairs")?;
            out.pairs = config
                .values()
                .iter()
                .map(|p| (p.key().map(str::to_string), p.value().unwrap_or_default().to_string()))
                .collect();
        }
        other => return Err(format!("a `{other}` condition")),
    }
    Ok(out)
}

fn to_sdk_condition(c: &RuleCondition) -> elb::types::RuleCondition {
    let values = Some(c.values.clone());
    let b = elb::types::RuleCondition::builder().field(&c.field);
    match c.field.as_str() {
        "host-header" => b.host_header_config(HostHeaderConditionConfig::builder().set_values(values).build()),
        "path-pattern" => b.path_pattern_config(PathPatternConditionConfig::builder().set_values(values).build()),
        "http-request-method" => {
            b.http_request_method_config(HttpRequestMethodConditionConfig::builder().set_values(values).build())
        }
        "source-ip" => b.source_ip_config(SourceIpConditionConfig::builder().set_values(values).build()),
        "http-header" => b.http_header_config(
            HttpHeaderConditionConfig::builder().set_http_header_name(c.header.clone()).set_values(values).build(),
        ),
        "query-string" => b.query_string_config(
            QueryStringConditionConfig::builder()
                .set_values(Some(
                    c.pairs
                        .iter()
                        .map(|(k, v)| QueryStringKeyValuePair::builder().set_key(k.clone()).value(v).build())
                        .collect(),
                ))
                .build(),
        ),
        _ => b.set_values(values),
    }
    .build()
}

impl RouteRequests for AwsFleet {
    async fn listener_rules(&self, target_groups: &[String]) -> Result<Vec<ListenerRule>, CallError> {
        const GROUPS: &str = "elasticloadbalancing:DescribeTargetGroups";
        const LISTENERS: &str = "elasticloadbalancing:DescribeListeners";
        const RULES: &str = "elasticloadbalancing:DescribeRules";
        if target_groups.is_empty() {
            return Ok(Vec::new());
        }
        self.count(GROUPS);
        let groups = self
            .elb
            .describe_target_groups()
            .set_target_group_arns(Some(target_groups.to_vec()))
            .send()
            .await
            .map_err(|e| call_error(GROUPS, e))?;
        let mut lbs: Vec<String> =
            groups.target_groups().iter().flat_map(|g| g.load_balancer_arns().iter().cloned()).collect();
        lbs.sort();
        lbs.dedup();
        let mut rules = Vec::new();
        for lb in lbs {
            let mut listeners = Vec::new();
            let mut marker: Option<String> = None;
            for _ in 0..MAX_PAGES {
                self.count(LISTENERS);
                let page = self
                    .elb
                    .describe_listeners()
                    .load_balancer_arn(&lb)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|e| call_error(LISTENERS, e))?;
                listeners.extend(page.listeners().iter().filter_map(|l| l.listener_arn().map(str::to_string)));
                match page.next_marker() {
                    Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_string()),
                    _ => break,
                }
            }
            for listener in listeners {
                let mut marker: Option<String> = None;
                for _ in 0..MAX_PAGES {
                    self.count(RULES);
                    let page = self
                        .elb
                        .describe_rules()
                        .listener_arn(&listener)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| call_error(RULES, e))?;
                    rules.extend(page.rules().iter().map(|r| listener_rule(&listener, r)));
                    match page.next_marker() {
                        Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_string()),
                        _ => break,
                    }
                }
            }
        }
        // Rules and their listeners in the same DescribeTags batches: a listener's
        // `wake-on-request=false` keeps it out of the routing.
        let mut arns: Vec<String> = rules.iter().map(|r: &ListenerRule| r.arn.clone()).collect();
        let mut listeners: Vec<String> = rules.iter().map(|r| r.listener.clone()).collect();
        listeners.sort();
        listeners.dedup();
        arns.extend(listeners.iter().cloned());
        for chunk in arns.chunks(DESCRIBE_TAGS_MAX) {
            for (arn, tags) in self.elb_tags(chunk).await? {
                if listeners.contains(&arn) {
                    rules.iter_mut().filter(|r| r.listener == arn).for_each(|r| r.listener_tags = tags.clone());
                } else if let Some(rule) = rules.iter_mut().find(|r| r.arn == arn) {
                    rule.tags = tags;
                }
            }
        }
        Ok(rules)
    }
    async fn ensure_waking_group(
        &self,
        name: &str,
        key: &str,
        service_arn: &str,
        waker_arn: &str,
    ) -> Result<String, CallError> {
        self.count(CREATE_TARGET_GROUP);
        let tag = Tag::builder().key(key).value(service_arn).build();
        let created =
            self.elb.create_target_group().name(name).target_type(TargetTypeEnum::Lambda).tags(tag).send().await;
        let arn = match created {
            Ok(out) => out.target_groups().first().and_then(|g| g.target_group_arn()).map(str::to_string),
            // Created by an earlier run that did not finish: the same group, found by name.
            Err(e) if e.code() == Some("DuplicateTargetGroupName") => {
                const OP: &str = "elasticloadbalancing:DescribeTargetGroups";
                self.count(OP);
                let found =
                    self.elb.describe_target_groups().names(name).send().await.map_err(|e| call_error(OP, e))?;
                found.target_groups().first().and_then(|g| g.target_group_arn()).map(str::to_string)
            }
            Err(e) => return Err(call_error(CREATE_TARGET_GROUP, e)),
        };
        let arn = arn.ok_or_else(|| CallError {
            operation: CREATE_TARGET_GROUP,
            code: None,
            message: format!("no ARN for target group {name}"),
            retryable: false,
        })?;
        // The group is found again by its tag: it must carry the service it wakes.
        let carries = self.elb_tags(std::slice::from_ref(&arn)).await?;
        if !carries.iter().any(|(_, tags)| tags.get(key).is_some_and(|v| v == service_arn)) {
            return Err(CallError {
                operation: CREATE_TARGET_GROUP,
                code: Some("RefusedByCostSaver".into()),
                message: format!("target group {name} exists but does not wake {service_arn}; not used"),
                retryable: false,
            });
        }
        self.count(REGISTER_TARGETS);
        self.elb
            .register_targets()
            .target_group_arn(&arn)
            .targets(TargetDescription::builder().id(waker_arn).build())
            .send()
            .await
            .map_err(|e| call_error(REGISTER_TARGETS, e))?;
        Ok(arn)
    }
    async fn create_rule(
        &self,
        listener: &str,
        priority: u32,
        conditions: &[RuleCondition],
        target_group: &str,
        tags: &[(String, String)],
    ) -> Result<(), CallError> {
        self.count(CREATE_RULE);
        let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(target_group).build();
        self.elb
            .create_rule()
            .listener_arn(listener)
            .priority(i32::try_from(priority).unwrap_or(i32::MAX))
            .set_conditions(Some(conditions.iter().map(to_sdk_condition).collect()))
            .actions(forward)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .send()
            .await
            .map_err(|e| call_error(CREATE_RULE, e))?;
        Ok(())
    }
    async fn delete_rule(&self, rule_arn: &str) -> Result<(), CallError> {
        self.count(DELETE_RULE);
        match self.elb.delete_rule().rule_arn(rule_arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("RuleNotFound") => Ok(()),
            Err(e) => Err(call_error(DELETE_RULE, e)),
        }
    }
    async fn delete_target_group(&self, target_group: &str) -> Result<(), CallError> {
        self.count(DELETE_TARGET_GROUP);
        match self.elb.delete_target_group().target_group_arn(target_group).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("TargetGroupNotFound") => Ok(()),
            Err(e) => Err(call_error(DELETE_TARGET_GROUP, e)),
        }
    }
    async fn all_healthy(&self, target_groups: &[String]) -> Result<bool, CallError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetHealth";
        for group in target_groups {
            self.count(OP);
            let out = self
                .elb
                .describe_target_health()
                .target_group_arn(group)
                .send()
                .await
                .map_err(|e| call_error(OP, e))?;
            let healthy = out
                .target_health_descriptions()
                .iter()
                .any(|d| d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy));
            if !healthy {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    use aws_smithy_mocks::{mock, mock_client};

    use super::*;
    use crate::fleet::ReadFleet;

    const GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-101-web/6d0ecf831eec9f09";
    const QUIET: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-102-web/0123456789abcdef";
    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/50dc6c495c0c9188";

    /// The request counts query names each target group and its load balancer as CloudWatch's
    /// `AWS/ApplicationELB` dimensions want them, and sums what comes back; a group without a
    /// datapoint served no request.
    #[tokio::test]
    async fn request_counts_ask_cloudwatch_by_target_group_and_load_balancer() {
        let groups = mock!(elb::Client::describe_target_groups).then_output(|| {
            let group =
                |arn: &str| elb::types::TargetGroup::builder().target_group_arn(arn).load_balancer_arns(LB).build();
            DescribeTargetGroupsOutput::builder().target_groups(group(GROUP)).target_groups(group(QUIET)).build()
        });
        let metrics = mock!(cw::Client::get_metric_data)
            .match_requests(|req| {
                let queries = req.metric_data_queries();
                let dims = |q: &cw::types::MetricDataQuery| {
                    let m = q.metric_stat().and_then(|s| s.metric());
                    let d: Vec<(String, String)> = m
                        .map(|m| {
                            m.dimensions()
                                .iter()
                                .map(|d| (d.name().unwrap_or_default().into(), d.value().unwrap_or_default().into()))
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        m.and_then(|m| m.namespace()).map(str::to_string),
                        m.and_then(|m| m.metric_name()).map(str::to_string),
                        d,
                    )
                };
                queries.len() == 2
                    && dims(&queries[0])
                        == (
                            Some("AWS/ApplicationELB".into()),
                            Some("RequestCount".into()),
                            vec![
                                ("TargetGroup".into(), "targetgroup/pr-101-web/6d0ecf831eec9f09".into()),
                                ("LoadBalancer".into(), "app/previews/50dc6c495c0c9188".into()),
                            ],
                        )
                    && queries.iter().all(|q| q.metric_stat().and_then(|s| s.stat()) == Some("Sum"))
            })
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(
                        cw::types::MetricDataResult::builder().id("q0x0").values(3.0).values(4.0).build(),
                    )
                    .metric_data_results(cw::types::MetricDataResult::builder().id("q0x1").build())
                    .build()
            });
        let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, [&metrics]);
        let config = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let fleet = AwsFleet::with_load_balancing(&config, elb, cloudwatch);
        let now = chrono::Utc::now();
        let counts = fleet
            .request_counts(&[GROUP.to_string(), QUIET.to_string()], now - chrono::Duration::minutes(90), now)
            .await
            .unwrap();
        assert_eq!(counts, [(GROUP.to_string(), 7), (QUIET.to_string(), 0)].into_iter().collect());
        assert_eq!(metrics.num_calls(), 1);
        assert_eq!(fleet.calls()["cloudwatch:GetMetricData"], 1);
    }
}
