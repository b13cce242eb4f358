//! Elastic Load Balancing for the waking routing (see `routing`): listener rules read into the
//! domain's `ListenerRule`, the waking target group, swapping a rule's forward, target health.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use elb::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Tag, TargetDescription, TargetGroupStickinessConfig, TargetGroupTuple,
    TargetHealthStateEnum, TargetTypeEnum,
};

use super::{call_error, AwsFleet};
use crate::fleet::{CallError, RouteRequests};
use crate::model::{Forward, ListenerRule, RuleCondition, Tags};

/// `DescribeTags` takes at most 20 resources.
const DESCRIBE_TAGS_MAX: usize = 20;
/// Markers a server repeats would page forever; no listener has this many pages of rules.
const MAX_PAGES: usize = 100;

pub(super) const CREATE_TARGET_GROUP: &str = "elasticloadbalancing:CreateTargetGroup";
pub(super) const REGISTER_TARGETS: &str = "elasticloadbalancing:RegisterTargets";
pub(super) const ADD_TAGS: &str = "elasticloadbalancing:AddTags";
pub(super) const MODIFY_RULE: &str = "elasticloadbalancing:ModifyRule";
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

fn listener_rule(lb: &str, listener: &str, port: Option<u16>, r: &elb::types::Rule) -> ListenerRule {
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
    forwards_to.sort();
    forwards_to.dedup();
    let forward = match r.actions() {
        [only] if only.r#type() == Some(&ActionTypeEnum::Forward) => forward_of(only),
        _ => None,
    };
    ListenerRule {
        arn: r.rule_arn().unwrap_or_default().to_string(),
        listener: listener.to_string(),
        load_balancer: lb.to_string(),
        port,
        priority,
        conditions,
        forwards_to,
        forward,
        tags: Tags::new(),
        listener_tags: Tags::new(),
        unsupported,
    }
}

/// A forward action as the domain keeps it: a plain forward when it sends everything to one
/// group without stickiness (how AWS also describes a plain forward), weighted otherwise.
fn forward_of(action: &Action) -> Option<Forward> {
    let config = action.forward_config();
    let tuples: Vec<(String, Option<i32>)> = config
        .map(|c| {
            c.target_groups().iter().filter_map(|t| Some((t.target_group_arn()?.to_string(), t.weight()))).collect()
        })
        .unwrap_or_default();
    let sticky = config
        .and_then(|c| c.target_group_stickiness_config())
        .filter(|s| s.enabled() == Some(true))
        .map(|s| s.duration_seconds().unwrap_or(3600));
    match (action.target_group_arn(), tuples.as_slice(), sticky) {
        (_, [(only, _)], None) => Some(Forward::to(only)),
        (Some(arn), [], None) => Some(Forward::to(arn)),
        (_, [], _) => None,
        _ => Some(Forward { groups: tuples, sticky_seconds: sticky }),
    }
}

fn to_sdk_forward(forward: &Forward) -> Action {
    let b = Action::builder().r#type(ActionTypeEnum::Forward);
    match (forward.groups.as_slice(), forward.sticky_seconds) {
        ([(only, None)], None) => b.target_group_arn(only).build(),
        (groups, sticky) => {
            let tuples = groups
                .iter()
                .map(|(g, w)| TargetGroupTuple::builder().target_group_arn(g).set_weight(*w).build())
                .collect();
            let stickiness =
                TargetGroupStickinessConfig::builder().enabled(sticky.is_some()).set_duration_seconds(sticky).build();
            let config = ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .target_group_stickiness_config(stickiness);
            b.forward_config(config.build()).build()
        }
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

impl AwsFleet {
    /// Each of these target groups that exists, with the load balancers it is behind now, in
    /// the order AWS answers. `DescribeTargetGroups` takes 20 ARNs a call and fails the whole
    /// call when one of them is gone, so such a batch is asked again one group at a time.
    pub(super) async fn elb_load_balancers_of(
        &self,
        target_groups: &[String],
    ) -> Result<Vec<(String, Vec<String>)>, CallError> {
        const GROUPS: &str = "elasticloadbalancing:DescribeTargetGroups";
        let mut found = Vec::new();
        for chunk in target_groups.chunks(DESCRIBE_TAGS_MAX) {
            self.count(GROUPS);
            match self.elb.describe_target_groups().set_target_group_arns(Some(chunk.to_vec())).send().await {
                Ok(out) => found.extend(
                    out.target_groups()
                        .iter()
                        .filter_map(|g| Some((g.target_group_arn()?.to_string(), g.load_balancer_arns().to_vec()))),
                ),
                Err(e) if e.code() == Some("TargetGroupNotFound") && chunk.len() > 1 => {
                    for one in chunk {
                        found.extend(Box::pin(self.elb_load_balancers_of(std::slice::from_ref(one))).await?);
                    }
                }
                Err(e) if e.code() == Some("TargetGroupNotFound") => {}
                Err(e) => return Err(call_error(GROUPS, e)),
            }
        }
        Ok(found)
    }

    /// `DescribeLoadBalancers` takes 20 ARNs a call; a batch naming one that is gone fails, and is
    /// asked again one at a time.
    pub(super) async fn elb_internet_facing(&self, lbs: &[String]) -> Result<BTreeMap<String, bool>, CallError> {
        const BALANCERS: &str = "elasticloadbalancing:DescribeLoadBalancers";
        let mut found = BTreeMap::new();
        for chunk in lbs.chunks(DESCRIBE_TAGS_MAX) {
            self.count(BALANCERS);
            match self.elb.describe_load_balancers().set_load_balancer_arns(Some(chunk.to_vec())).send().await {
                Ok(out) => found.extend(out.load_balancers().iter().filter_map(|b| {
                    let facing = b.scheme()? == &elb::types::LoadBalancerSchemeEnum::InternetFacing;
                    Some((b.load_balancer_arn()?.to_string(), facing))
                })),
                Err(e) if e.code() == Some("LoadBalancerNotFound") && chunk.len() > 1 => {
                    for one in chunk {
                        found.extend(Box::pin(self.elb_internet_facing(std::slice::from_ref(one))).await?);
                    }
                }
                Err(e) if e.code() == Some("LoadBalancerNotFound") => {}
                Err(e) => return Err(call_error(BALANCERS, e)),
            }
        }
        Ok(found)
    }

    pub(super) async fn elb_listener_rules(
        &self,
        lbs: &[String],
        tags_for: &[String],
    ) -> Result<Vec<ListenerRule>, CallError> {
        const LISTENERS: &str = "elasticloadbalancing:DescribeListeners";
        const RULES: &str = "elasticloadbalancing:DescribeRules";
        let mut rules = Vec::new();
        for lb in lbs {
            let listeners: Vec<(String, Option<u16>)> = follow_markers(|marker| async move {
                self.count(LISTENERS);
                let page = self
                    .elb
                    .describe_listeners()
                    .load_balancer_arn(lb)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| call_error(LISTENERS, e))?;
                let found = page
                    .listeners()
                    .iter()
                    .filter_map(|l| Some((l.listener_arn()?.to_string(), l.port().and_then(|p| u16::try_from(p).ok()))))
                    .collect();
                Ok((found, page.next_marker().map(str::to_string)))
            })
            .await?;
            for (listener, port) in &listeners {
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
                    let rules = page.rules().iter().map(|r| listener_rule(lb, listener, *port, r)).collect();
                    Ok((rules, page.next_marker().map(str::to_string)))
                })
                .await?;
                rules.extend(found);
            }
        }
        // Tags only where they matter, rules and their listeners in the same DescribeTags
        // batches: the tool's marks on swapped rules, a listener's `wake-on-request=false`.
        let wanted =
            |r: &ListenerRule| r.forwards_to.iter().any(|t| tags_for.contains(t) || crate::routing::is_waking_group(t));
        let mut arns: Vec<String> = rules.iter().filter(|r| wanted(r)).map(|r| r.arn.clone()).collect();
        let mut listeners: Vec<String> = rules.iter().filter(|r| wanted(r)).map(|r| r.listener.clone()).collect();
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
        tags: &[(String, String)],
        waker_arn: &str,
    ) -> Result<String, CallError> {
        self.count(CREATE_TARGET_GROUP);
        let sdk_tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let created = self
            .elb
            .create_target_group()
            .name(name)
            .target_type(TargetTypeEnum::Lambda)
            .set_tags(Some(sdk_tags))
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.target_groups().first().and_then(|g| g.target_group_arn()).map(str::to_string),
            // Created by an earlier run: the same group, found by name.
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
        // A group of that name someone else made is not the tool's to use.
        let carries = self.elb_tags(std::slice::from_ref(&arn)).await?;
        let marked = carries.iter().any(|(_, have)| tags.iter().all(|(k, v)| have.get(k) == Some(v)));
        if !marked {
            return Err(CallError::refused(
                CREATE_TARGET_GROUP,
                format!("target group {name} exists without the tool's marks; not used"),
            ));
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

    async fn tag_rule(&self, rule_arn: &str, tags: &[(String, String)]) -> Result<(), CallError> {
        self.count(ADD_TAGS);
        self.elb
            .add_tags()
            .resource_arns(rule_arn)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .send()
            .await
            .map_err(|e| call_error(ADD_TAGS, e))?;
        Ok(())
    }

    async fn forward_rule(&self, rule_arn: &str, forward: &Forward) -> Result<(), CallError> {
        self.count(MODIFY_RULE);
        self.elb
            .modify_rule()
            .rule_arn(rule_arn)
            .actions(to_sdk_forward(forward))
            .send()
            .await
            .map_err(|e| call_error(MODIFY_RULE, e))?;
        Ok(())
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
