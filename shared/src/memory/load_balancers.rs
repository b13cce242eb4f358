//! Load balancers in the in-memory fleet: target groups (with health), listeners and their
//! rules, as Elastic Load Balancing keeps them, for testing the waking routing without a network.

use std::collections::BTreeMap;

use super::{MemoryFleet, State};
use crate::fleet::{CallError, RouteRequests};
use crate::model::{ListenerRule, RuleCondition, Tags};

#[derive(Debug, Clone, Default)]
pub(super) struct TargetGroup {
    name: String,
    tags: Tags,
    /// Load balancers it is attached to other than through rules (a service's own group).
    load_balancers: Vec<String>,
    targets: Vec<String>,
    healthy: bool,
}

#[derive(Debug, Default)]
pub(super) struct Elb {
    groups: BTreeMap<String, TargetGroup>,
    /// Listener ARN -> its load balancer ARN.
    listeners: BTreeMap<String, String>,
    listener_tags: BTreeMap<String, Tags>,
    rules: BTreeMap<String, ListenerRule>,
    created: u32,
}

impl Elb {
    pub(super) fn tag(&self, target_group: &str, key: &str) -> Option<String> {
        self.groups.get(target_group)?.tags.get(key).cloned()
    }

    fn load_balancers_of(&self, target_group: &str) -> Vec<String> {
        let mut lbs = self.groups.get(target_group).map(|g| g.load_balancers.clone()).unwrap_or_default();
        for rule in self.rules.values().filter(|r| r.forwards_to.iter().any(|t| t == target_group)) {
            lbs.extend(self.listeners.get(&rule.listener).cloned());
        }
        lbs.sort();
        lbs.dedup();
        lbs
    }
}

fn elb_error(operation: &'static str, code: &str, message: String) -> CallError {
    CallError { operation, code: Some(code.into()), message, retryable: false }
}

impl MemoryFleet {
    /// A service's target group on `load_balancer`, healthy or not.
    pub fn add_target_group(&self, arn: &str, load_balancer: &str, healthy: bool) {
        let mut state = self.lock();
        let group = state.elb.groups.entry(arn.to_string()).or_default();
        group.name = arn.rsplit('/').nth(1).unwrap_or(arn).to_string();
        group.load_balancers = vec![load_balancer.to_string()];
        group.healthy = healthy;
    }

    /// A target group carrying these tags (as the tool tags its waking groups).
    pub fn add_tagged_target_group(&self, arn: &str, tags: &[(&str, &str)]) {
        let mut state = self.lock();
        let group = state.elb.groups.entry(arn.to_string()).or_default();
        group.tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    }

    pub fn set_healthy(&self, target_group: &str, healthy: bool) {
        if let Some(g) = self.lock().elb.groups.get_mut(target_group) {
            g.healthy = healthy;
        }
    }

    /// A rule on `listener` (of `load_balancer`); `priority` `None` is the default rule.
    pub fn add_rule(
        &self,
        arn: &str,
        load_balancer: &str,
        listener: &str,
        priority: Option<u32>,
        host: &str,
        to: &str,
    ) {
        let mut state = self.lock();
        state.elb.listeners.insert(listener.to_string(), load_balancer.to_string());
        let conditions =
            vec![RuleCondition { field: "host-header".into(), header: None, values: vec![host.into()], pairs: vec![] }];
        let rule = ListenerRule {
            arn: arn.to_string(),
            listener: listener.to_string(),
            priority,
            conditions: if priority.is_some() { conditions } else { vec![] },
            forwards_to: vec![to.to_string()],
            tags: Tags::new(),
            listener_tags: Tags::new(),
            unsupported: None,
        };
        state.elb.rules.insert(arn.to_string(), rule);
    }

    /// Tags a listener (as `aws elbv2 add-tags` on its ARN).
    pub fn tag_listener(&self, listener: &str, key: &str, value: &str) {
        self.lock().elb.listener_tags.entry(listener.to_string()).or_default().insert(key.into(), value.into());
    }

    /// A rule exactly as given (its listener must exist already).
    pub fn add_rule_as_is(&self, rule: ListenerRule) {
        self.lock().elb.rules.insert(rule.arn.clone(), rule);
    }

    /// Every rule, by listener and priority (`None` for the default rule).
    pub fn rules(&self) -> Vec<ListenerRule> {
        let mut rules: Vec<ListenerRule> = self.lock().elb.rules.values().cloned().collect();
        rules.sort_by_key(|r| (r.listener.clone(), r.priority.unwrap_or(u32::MAX)));
        rules
    }

    /// The ARNs of every target group.
    pub fn target_groups(&self) -> Vec<String> {
        self.lock().elb.groups.keys().cloned().collect()
    }

    /// Counts an Elastic Load Balancing write, fails it when told to, logs it.
    fn elb_write<T>(
        &self,
        operation: &'static str,
        detail: String,
        change: impl FnOnce(&mut State) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let mut state = self.lock();
        *state.calls.entry(operation.to_string()).or_insert(0) += 1;
        state.writes += 1;
        let n = state.writes;
        if let Some(e) = state.injected_failure(operation, n) {
            return Err(e);
        }
        let done = change(&mut state)?;
        state.log.push(format!("{operation} {detail}"));
        Ok(done)
    }

    pub(super) async fn elb_waking_groups(&self, key: &str) -> Result<Vec<(String, String)>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("tagging:GetResources".into()).or_insert(0) += 1;
        Ok(state.elb.groups.iter().filter_map(|(arn, g)| Some((arn.clone(), g.tags.get(key)?.clone()))).collect())
    }
}

impl MemoryFleet {
    pub(super) async fn memory_listener_rules(&self, target_groups: &[String]) -> Result<Vec<ListenerRule>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("elasticloadbalancing:DescribeRules".into()).or_insert(0) += 1;
        let lbs: Vec<String> = target_groups.iter().flat_map(|t| state.elb.load_balancers_of(t)).collect();
        let elb = &state.elb;
        Ok(elb
            .rules
            .values()
            .filter(|r| elb.listeners.get(&r.listener).is_some_and(|lb| lbs.contains(lb)))
            .map(|r| ListenerRule {
                listener_tags: elb.listener_tags.get(&r.listener).cloned().unwrap_or_default(),
                ..r.clone()
            })
            .collect())
    }
}

impl RouteRequests for MemoryFleet {
    async fn ensure_waking_group(
        &self,
        name: &str,
        key: &str,
        service_arn: &str,
        waker_arn: &str,
    ) -> Result<String, CallError> {
        self.interleave().await;
        let existing = self.lock().elb.groups.iter().find(|(_, g)| g.name == name).map(|(arn, _)| arn.clone());
        let arn = match existing {
            Some(arn) => arn,
            None => self.elb_write("elasticloadbalancing:CreateTargetGroup", name.to_string(), |state| {
                state.elb.created += 1;
                let arn = format!(
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/{:016x}",
                    state.elb.created
                );
                let tags = [(key.to_string(), service_arn.to_string())].into_iter().collect();
                state.elb.groups.insert(arn.clone(), TargetGroup { name: name.into(), tags, ..TargetGroup::default() });
                Ok(arn)
            })?,
        };
        let registered = self.lock().elb.groups.get(&arn).is_some_and(|g| g.targets.iter().any(|t| t == waker_arn));
        if !registered {
            self.interleave().await;
            self.elb_write("elasticloadbalancing:RegisterTargets", format!("{name} {waker_arn}"), |state| {
                let group = state.elb.groups.get_mut(&arn).ok_or_else(|| {
                    elb_error("elasticloadbalancing:RegisterTargets", "TargetGroupNotFound", arn.clone())
                })?;
                group.targets.push(waker_arn.to_string());
                group.healthy = true;
                Ok(())
            })?;
        }
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
        self.interleave().await;
        const OP: &str = "elasticloadbalancing:CreateRule";
        self.elb_write(OP, format!("{listener} priority={priority} -> {target_group}"), |state| {
            let elb = &mut state.elb;
            if !elb.groups.contains_key(target_group) {
                return Err(elb_error(OP, "TargetGroupNotFound", format!("{target_group} not found")));
            }
            if elb.rules.values().any(|r| r.listener == listener && r.priority == Some(priority)) {
                return Err(elb_error(OP, "PriorityInUse", format!("priority {priority} is in use")));
            }
            elb.created += 1;
            let arn = format!("{listener}/rule-{:x}", elb.created);
            let rule = ListenerRule {
                arn: arn.clone(),
                listener: listener.to_string(),
                priority: Some(priority),
                conditions: conditions.to_vec(),
                forwards_to: vec![target_group.to_string()],
                tags: tags.iter().cloned().collect(),
                listener_tags: Tags::new(),
                unsupported: None,
            };
            elb.rules.insert(arn, rule);
            Ok(())
        })
    }
    async fn delete_rule(&self, rule_arn: &str) -> Result<(), CallError> {
        self.interleave().await;
        self.elb_write("elasticloadbalancing:DeleteRule", rule_arn.to_string(), |state| {
            state.elb.rules.remove(rule_arn);
            Ok(())
        })
    }
    async fn delete_target_group(&self, target_group: &str) -> Result<(), CallError> {
        self.interleave().await;
        const OP: &str = "elasticloadbalancing:DeleteTargetGroup";
        self.elb_write(OP, target_group.to_string(), |state| {
            if state.elb.rules.values().any(|r| r.forwards_to.iter().any(|t| t == target_group)) {
                return Err(elb_error(OP, "ResourceInUse", format!("{target_group} is used by a rule")));
            }
            state.elb.groups.remove(target_group);
            Ok(())
        })
    }
    async fn all_healthy(&self, target_groups: &[String]) -> Result<bool, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("elasticloadbalancing:DescribeTargetHealth".into()).or_insert(0) +=
            target_groups.len() as u32;
        Ok(target_groups.iter().all(|t| state.elb.groups.get(t).is_some_and(|g| g.healthy)))
    }
}
