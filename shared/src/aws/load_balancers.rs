//! Elastic Load Balancing for the waking routing (see `routing`): listener rules read into the
//! domain's `ListenerRule`, the waking target group, companion rules, target health.

use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use elb::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    PathPatternConditionConfig, QueryStringConditionConfig, QueryStringKeyValuePair, SourceIpConditionConfig, Tag,
    TargetDescription, TargetHealthStateEnum, TargetTypeEnum,
};

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

impl AwsFleet {
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

/// Every page of a `Marker`-paged call: `fetch` answers one page's items and the next marker.
/// Stops after `MAX_PAGES`, or when a server repeats a marker (which would page forever).
async fn follow_markers<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, CallError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), CallError>>,
{
    let (mut all, mut marker) = (Vec::new(), None::<String>);
    for _ in 0..MAX_PAGES {
        let (items, next) = fetch(marker.clone()).await?;
        all.extend(items);
        match next {
            Some(next) if Some(&next) != marker.as_ref() => marker = Some(next),
            _ => break,
        }
    }
    Ok(all)
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

impl AwsFleet {
    pub(super) async fn elb_listener_rules(&self, target_groups: &[String]) -> Result<Vec<ListenerRule>, CallError> {
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
        for lb in &lbs {
            let listeners: Vec<String> = follow_markers(|marker| async move {
                self.count(LISTENERS);
                let page = self
                    .elb
                    .describe_listeners()
                    .load_balancer_arn(lb)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| call_error(LISTENERS, e))?;
                let arns = page.listeners().iter().filter_map(|l| l.listener_arn().map(str::to_string)).collect();
                Ok((arns, page.next_marker().map(str::to_string)))
            })
            .await?;
            for listener in &listeners {
                let found = follow_markers(|marker| async move {
                    self.count(RULES);
                    let page = self
                        .elb
                        .describe_rules()
                        .listener_arn(listener)
                        .set_marker(marker)
                        .send()
                        .await
                        .map_err(|e| call_error(RULES, e))?;
                    let rules = page.rules().iter().map(|r| listener_rule(listener, r)).collect();
                    Ok((rules, page.next_marker().map(str::to_string)))
                })
                .await?;
                rules.extend(found);
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
}

impl RouteRequests for AwsFleet {
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
