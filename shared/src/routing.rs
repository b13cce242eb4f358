//! Routing a sleeping service's load balancer traffic to the waker, and back.
//!
//! Decision: the tool never changes a rule it did not create. For every listener rule that
//! forwards to a sleeping service's target group it adds a **companion**: a rule with the same
//! conditions at the nearest free priority above it (a lower number wins), forwarding to the
//! service's own **waking target group** (`csw-<hash of the service ARN>`, the waker function
//! its only target). Both carry `cost-saver:wakes=<service ARN>`; the tool finds its rules and
//! groups by that tag and by the waking group they forward to, never by name or guess. Swapping
//! the original rule's actions instead would need its actions saved somewhere, and tag values
//! cannot hold them; a companion leaves the original untouched, so restoring is deleting.
//!
//! Order: on sleep, after `saved` is written and before the count goes to 0 (the waking group
//! first, then the companions), so requests meet the waking page, not a 503. On restore the
//! companions stay until every target group of the service has a healthy target; then the
//! companions go, then the waking group. Each step is idempotent and a later run (or the
//! waker, on the next page reload) finishes what a crash left.

use std::collections::BTreeMap;

use crate::fleet::{CallError, ChangeService, ReadTraffic, RouteRequests};
use crate::model::{Fresh, ListenerRule, ObservedService, RuleCondition, ServiceId, Waking};
use crate::tags::wake_on_request_value;

pub use crate::config::Routing;

/// The waking target group's name: at most 32 characters, letters, digits and hyphens, the same
/// for a service on every run.
pub fn waking_group_name(service: &ServiceId) -> String {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in service.arn.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("csw-{hash:016x}")
}

/// A companion rule to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companion {
    pub listener: String,
    pub priority: u32,
    pub conditions: Vec<RuleCondition>,
    /// The rule it shadows.
    pub of: String,
}

/// The companions missing for a service whose target groups are `serves`, given every rule of
/// the listeners involved; and what cannot be covered, in words.
pub fn missing_companions(
    service_arn: &str,
    serves: &[String],
    waking_group: &str,
    rules: &[ListenerRule],
    key: &str,
    opt_out: &str,
) -> (Vec<Companion>, Vec<String>) {
    let ours = |r: &ListenerRule| r.tags.get(key).is_some_and(|v| v == service_arn);
    let mut missing: Vec<Companion> = Vec::new();
    let mut warnings = Vec::new();
    for rule in rules.iter().filter(|r| !r.tags.contains_key(key) && r.forwards_to.iter().any(|t| serves.contains(t))) {
        let Some(priority) = rule.priority else {
            warnings.push(format!(
                "the default action of listener {} forwards to this service: requests it takes get no waking page",
                rule.listener
            ));
            continue;
        };
        // Read as on services and clusters: anything but `true`/`false` counts as `false`.
        if let Some(value) = rule.listener_tags.get(opt_out).filter(|v| wake_on_request_value(v) != Some(true)) {
            warnings.push(format!(
                "listener {} opts out ({opt_out}={value}): rule {} (priority {priority}) gets no waking page",
                rule.listener, rule.arn
            ));
            continue;
        }
        if let Some(why) = &rule.unsupported {
            warnings.push(format!(
                "rule {} (priority {priority}) cannot be copied ({why}): no waking page for it",
                rule.arn
            ));
            continue;
        }
        let covered = rules.iter().any(|c| {
            ours(c)
                && c.listener == rule.listener
                && c.forwards_to == [waking_group.to_string()]
                && c.priority.is_some_and(|p| p < priority)
                && same_conditions(&c.conditions, &rule.conditions)
        });
        if covered {
            continue;
        }
        let taken = |p: u32| {
            rules.iter().any(|r| r.listener == rule.listener && r.priority == Some(p))
                || missing.iter().any(|m| m.listener == rule.listener && m.priority == p)
        };
        match (1..priority).rev().find(|p| !taken(*p)) {
            Some(free) => missing.push(Companion {
                listener: rule.listener.clone(),
                priority: free,
                conditions: rule.conditions.clone(),
                of: rule.arn.clone(),
            }),
            None => warnings.push(format!(
                "no free priority above rule {} (priority {priority}) on listener {}: no waking page for it",
                rule.arn, rule.listener
            )),
        }
    }
    (missing, warnings)
}

/// Whether `s`'s requests can reach the waker, given every rule of its listeners: its waking
/// rules all in place, all addable, or some traffic never coverable (and why).
pub fn coverage(s: &ObservedService, rules: &[ListenerRule], routing: Routing<'_>) -> Waking {
    let serves: Vec<String> =
        s.target_groups.iter().filter(|t| rules.iter().any(|r| r.forwards_to.contains(t))).cloned().collect();
    if serves.is_empty() {
        return Waking::Uncovered("no listener rule forwards to its target groups".into());
    }
    // Its waking group is whatever its own rules forward to (none yet: nothing is in place).
    let own = rules.iter().find(|r| r.tags.get(routing.key) == Some(&s.id.arn)).and_then(|r| r.forwards_to.first());
    let group = own.cloned().unwrap_or_default();
    let (missing, warnings) = missing_companions(&s.id.arn, &serves, &group, rules, routing.key, routing.opt_out);
    match (warnings.is_empty(), missing.is_empty()) {
        (false, _) => Waking::Uncovered(warnings.join("; ")),
        (true, true) if own.is_some() => Waking::InPlace,
        (true, _) => Waking::CanBeAdded,
    }
}

fn same_conditions(a: &[RuleCondition], b: &[RuleCondition]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// Puts the waking routing of one service in place (idempotent); the steps done, in words.
pub async fn route_to_waker<C: RouteRequests + ReadTraffic>(
    changer: &C,
    id: &ServiceId,
    serves: &[String],
    routing: Routing<'_>,
    steps: &mut Vec<String>,
) -> Result<Vec<String>, CallError> {
    let key = routing.key;
    let name = waking_group_name(id);
    let group = changer.ensure_waking_group(&name, key, &id.arn, routing.waker).await?;
    let rules = changer.listener_rules(serves).await?;
    let (missing, warnings) = missing_companions(&id.arn, serves, &group, &rules, key, routing.opt_out);
    let tags = [(key.to_string(), id.arn.clone())];
    for c in &missing {
        changer.create_rule(&c.listener, c.priority, &c.conditions, &group, &tags).await?;
        steps.push(format!("waking rule at priority {} in front of {}", c.priority, c.of));
    }
    Ok(warnings)
}

/// Takes the waking routing of one awake service down once every target group it serves has a
/// healthy target: companions first, the waking group last. `Ok(false)` while not yet healthy.
pub async fn release<C: RouteRequests + ReadTraffic>(
    changer: &C,
    group: &str,
    service_arn: &str,
    serves: &[String],
    key: &str,
    steps: &mut Vec<String>,
) -> Result<bool, CallError> {
    if !serves.is_empty() && !changer.all_healthy(serves).await? {
        return Ok(false);
    }
    let mut groups = serves.to_vec();
    groups.push(group.to_string());
    for rule in changer.listener_rules(&groups).await? {
        let ours = rule.tags.get(key).is_some_and(|v| v == service_arn);
        if ours && rule.forwards_to.iter().any(|t| t == group) {
            changer.delete_rule(&rule.arn).await?;
            steps.push(format!("removed waking rule {}", rule.arn));
        }
    }
    changer.delete_target_group(group).await?;
    steps.push(format!("removed waking target group {group}"));
    Ok(true)
}

/// Takes down the waking routing of every awake service whose target groups are healthy again,
/// and of services that no longer exist; leaves it for sleeping ones. What was done or is still
/// waiting, in words, for the summary.
pub async fn release_awake<F: ReadTraffic + ChangeService + RouteRequests>(
    fleet: &F,
    saved_key: &str,
    routing: Routing<'_>,
) -> Vec<String> {
    let groups = match fleet.waking_groups(routing.key).await {
        Ok(groups) => groups,
        Err(e) => return vec![format!("could not list waking target groups: {e}")],
    };
    let pairs: Vec<(String, ServiceId)> =
        groups.into_iter().filter_map(|(group, arn)| Some((group, ServiceId::from_arn(&arn)?))).collect();
    release_services(fleet, saved_key, routing, &pairs).await
}

/// `release_awake` for given waking groups and the services they wake.
pub async fn release_services<F: ChangeService + RouteRequests + ReadTraffic>(
    fleet: &F,
    saved_key: &str,
    routing: Routing<'_>,
    pairs: &[(String, ServiceId)],
) -> Vec<String> {
    let key = routing.key;
    if pairs.is_empty() {
        return Vec::new();
    }
    let ids: Vec<ServiceId> = pairs.iter().map(|(_, id)| id.clone()).collect();
    let fresh: BTreeMap<ServiceId, Fresh> = match fleet.current(&ids, saved_key).await {
        Ok(rows) => rows.into_iter().map(|f| (f.id.clone(), f)).collect(),
        Err(e) => return vec![format!("could not read the services behind waking target groups: {e}")],
    };
    let mut lines = Vec::new();
    for (group, id) in pairs {
        let serves = match fresh.get(id) {
            Some(f) if f.tag.is_some() => continue,
            Some(f) => f.target_groups.clone(),
            // Deleted: nothing will become healthy; take its routing down now.
            None => Vec::new(),
        };
        let mut steps = Vec::new();
        match release(fleet, group, &id.arn, &serves, key, &mut steps).await {
            Ok(true) => {
                // Check after write: a run that put the service to sleep while this one took its
                // routing down would leave it asleep without a waking rule. Put it back.
                let slept = fleet
                    .current(std::slice::from_ref(id), saved_key)
                    .await
                    .map(|f| f.first().is_some_and(|f| f.tag.is_some()));
                if matches!(slept, Ok(true)) {
                    match route_to_waker(fleet, id, &serves, routing, &mut steps).await {
                        Ok(_) => steps.push("put to sleep meanwhile by another run: waking routing put back".into()),
                        Err(e) => {
                            steps.push(format!("put to sleep meanwhile; putting the waking routing back failed: {e}"))
                        }
                    }
                }
                lines.push(format!("{id}: awake and healthy: {}", steps.join(", ")))
            }
            Ok(false) => lines.push(format!("{id}: awake, waiting for a healthy target before routing back")),
            Err(e) => lines.push(format!("{id}: routing back failed after {steps:?}: {e}")),
        }
    }
    lines
}

#[cfg(test)]
mod tests;
