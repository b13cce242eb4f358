//! Load balancers in the in-memory fleet: target groups (with health), listeners and their
//! rules, as Elastic Load Balancing keeps them, for testing the waking routing without a network.

use std::collections::BTreeMap;

use super::{MemoryFleet, State};
use crate::fleet::{CallError, RouteRequests};
use crate::model::{Forward, ListenerRule, RuleCondition, Tags};

#[derive(Debug, Clone, Default)]
pub(super) struct TargetGroup {
    name: String,
    tags: Tags,
    targets: Vec<String>,
    healthy: bool,
}

#[derive(Debug, Clone, Default)]
struct Listener {
    load_balancer: String,
    port: Option<u16>,
    tags: Tags,
}

#[derive(Debug, Default)]
pub(super) struct Elb {
    groups: BTreeMap<String, TargetGroup>,
    listeners: BTreeMap<String, Listener>,
    rules: BTreeMap<String, ListenerRule>,
    created: u32,
    /// Load balancers set internet-facing; every other one is internal.
    internet_facing: std::collections::BTreeSet<String>,
}

impl Elb {
    /// As Elastic Load Balancing says it: the load balancers whose rules forward to the group now.
    fn load_balancers_of(&self, target_group: &str) -> Vec<String> {
        let mut lbs: Vec<String> = self
            .rules
            .values()
            .filter(|r| r.forwards_to.iter().any(|t| t == target_group))
            .filter_map(|r| self.listeners.get(&r.listener).map(|l| l.load_balancer.clone()))
            .collect();
        lbs.sort();
        lbs.dedup();
        lbs
    }
}

fn elb_error(operation: &'static str, code: &str, message: String) -> CallError {
    CallError { operation, code: Some(code.into()), message, retryable: false }
}

impl MemoryFleet {
    /// A service's target group, healthy or not (the load balancer it is behind is the one whose
    /// rules forward to it, as in Elastic Load Balancing).
    pub fn add_target_group(&self, arn: &str, healthy: bool) {
        let mut state = self.lock();
        let group = state.elb.groups.entry(arn.to_string()).or_default();
        group.name = arn.rsplit('/').nth(1).unwrap_or(arn).to_string();
        group.healthy = healthy;
    }

    /// A target group carrying these tags.
    pub fn add_tagged_target_group(&self, arn: &str, tags: &[(&str, &str)]) {
        let mut state = self.lock();
        let group = state.elb.groups.entry(arn.to_string()).or_default();
        group.name = arn.rsplit('/').nth(1).unwrap_or(arn).to_string();
        group.tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    }

    pub fn set_healthy(&self, target_group: &str, healthy: bool) {
        if let Some(g) = self.lock().elb.groups.get_mut(target_group) {
            g.healthy = healthy;
        }
    }

    /// A listener of `load_balancer` on `port`.
    pub fn add_listener(&self, listener: &str, load_balancer: &str, port: u16) {
        let mut state = self.lock();
        let l = state.elb.listeners.entry(listener.to_string()).or_default();
        l.load_balancer = load_balancer.to_string();
        l.port = Some(port);
    }

    /// A rule on `listener` (of `load_balancer`, port 443 unless the listener was added with
    /// another) forwarding `host` to `to`; `priority` `None` is the default rule.
    pub fn add_rule(
        &self,
        arn: &str,
        load_balancer: &str,
        listener: &str,
        priority: Option<u32>,
        host: &str,
        to: &str,
    ) {
        let conditions =
            vec![RuleCondition { field: "host-header".into(), header: None, values: vec![host.into()], pairs: vec![] }];
        let rule = ListenerRule {
            arn: arn.to_string(),
            listener: listener.to_string(),
            load_balancer: load_balancer.to_string(),
            port: None,
            priority,
            conditions: if priority.is_some() { conditions } else { vec![] },
            forwards_to: vec![to.to_string()],
            forward: Some(Forward::to(to)),
            tags: Tags::new(),
            listener_tags: Tags::new(),
            unsupported: None,
        };
        self.add_rule_as_is(rule);
    }

    /// Tags a listener (as `aws elbv2 add-tags` on its ARN).
    pub fn tag_listener(&self, listener: &str, key: &str, value: &str) {
        self.lock().elb.listeners.entry(listener.to_string()).or_default().tags.insert(key.into(), value.into());
    }

    /// A rule exactly as given (its listener is made if missing, port 443).
    pub fn add_rule_as_is(&self, rule: ListenerRule) {
        let mut state = self.lock();
        let l = state.elb.listeners.entry(rule.listener.clone()).or_default();
        l.load_balancer.clone_from(&rule.load_balancer);
        l.port.get_or_insert(443);
        state.elb.rules.insert(rule.arn.clone(), rule);
    }

    /// Edits a rule in place, as someone with the console would.
    pub fn edit_rule(&self, arn: &str, change: impl FnOnce(&mut ListenerRule)) {
        if let Some(rule) = self.lock().elb.rules.get_mut(arn) {
            change(rule);
        }
    }

    /// Deletes a rule, as its stack's deletion would.
    pub fn remove_rule(&self, arn: &str) {
        self.lock().elb.rules.remove(arn);
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

    /// The tags of a target group.
    pub fn target_group_tags(&self, arn: &str) -> Tags {
        self.lock().elb.groups.get(arn).map(|g| g.tags.clone()).unwrap_or_default()
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

    pub(super) async fn elb_waking_groups(&self, marker: &str) -> Result<Vec<(String, Tags)>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("tagging:GetResources".into()).or_insert(0) += 1;
        Ok(state
            .elb
            .groups
            .iter()
            .filter(|(_, g)| g.tags.contains_key(marker))
            .map(|(a, g)| (a.clone(), g.tags.clone()))
            .collect())
    }

    pub(super) async fn elb_load_balancers_of(
        &self,
        target_groups: &[String],
    ) -> Result<Vec<(String, Vec<String>)>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("elasticloadbalancing:DescribeTargetGroups".into()).or_insert(0) += 1;
        let elb = &state.elb;
        Ok(target_groups
            .iter()
            .filter(|t| elb.groups.contains_key(*t))
            .map(|t| (t.clone(), elb.load_balancers_of(t)))
            .collect())
    }

    pub(super) async fn elb_internet_facing(&self, lbs: &[String]) -> Result<BTreeMap<String, bool>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("elasticloadbalancing:DescribeLoadBalancers".into()).or_insert(0) += 1;
        let facing = &state.elb.internet_facing;
        Ok(lbs.iter().map(|lb| (lb.clone(), facing.contains(lb))).collect())
    }

    /// Makes `load_balancer` internet-facing (they are internal unless a test says).
    pub fn set_internet_facing(&self, load_balancer: &str) {
        self.lock().elb.internet_facing.insert(load_balancer.to_string());
    }

    pub(super) async fn memory_listener_rules(&self, lbs: &[String]) -> Result<Vec<ListenerRule>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("elasticloadbalancing:DescribeRules".into()).or_insert(0) += 1;
        let elb = &state.elb;
        Ok(elb
            .rules
            .values()
            .filter_map(|r| {
                let l = elb.listeners.get(&r.listener)?;
                lbs.contains(&l.load_balancer).then(|| ListenerRule {
                    listener_tags: l.tags.clone(),
                    port: l.port,
                    load_balancer: l.load_balancer.clone(),
                    ..r.clone()
                })
            })
            .collect())
    }
}

impl RouteRequests for MemoryFleet {
    async fn ensure_waking_group(
        &self,
        name: &str,
        tags: &[(String, String)],
        waker_arn: &str,
    ) -> Result<String, CallError> {
        self.interleave().await;
        const OP: &str = "elasticloadbalancing:CreateTargetGroup";
        let existing =
            self.lock().elb.groups.iter().find(|(_, g)| g.name == name).map(|(arn, g)| (arn.clone(), g.tags.clone()));
        let arn = match existing {
            Some((arn, have)) if tags.iter().all(|(k, v)| have.get(k) == Some(v)) => arn,
            Some(_) => {
                return Err(elb_error(
                    OP,
                    "RefusedByCostSaver",
                    format!("target group {name} exists without the tool's marks"),
                ))
            }
            None => self.elb_write(OP, name.to_string(), |state| {
                state.elb.created += 1;
                let arn = format!(
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/{:016x}",
                    state.elb.created
                );
                let tags = tags.iter().cloned().collect();
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

    async fn tag_rule(&self, rule_arn: &str, tags: &[(String, String)]) -> Result<(), CallError> {
        self.interleave().await;
        const OP: &str = "elasticloadbalancing:AddTags";
        self.elb_write(
            OP,
            format!("{rule_arn} {}", tags.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(",")),
            |state| {
                let rule = state
                    .elb
                    .rules
                    .get_mut(rule_arn)
                    .ok_or_else(|| elb_error(OP, "RuleNotFound", rule_arn.to_string()))?;
                rule.tags.extend(tags.iter().cloned());
                Ok(())
            },
        )
    }

    async fn forward_rule(&self, rule_arn: &str, forward: &Forward) -> Result<(), CallError> {
        self.interleave().await;
        const OP: &str = "elasticloadbalancing:ModifyRule";
        let to = forward.target_groups();
        self.elb_write(OP, format!("{rule_arn} -> {}", to.join(",")), |state| {
            if let Some(missing) = to.iter().find(|t| !state.elb.groups.contains_key(*t)) {
                return Err(elb_error(OP, "TargetGroupNotFound", format!("{missing} not found")));
            }
            let rule =
                state.elb.rules.get_mut(rule_arn).ok_or_else(|| elb_error(OP, "RuleNotFound", rule_arn.to_string()))?;
            rule.forwards_to = to.clone();
            rule.forwards_to.sort();
            rule.forward = Some(forward.clone());
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
