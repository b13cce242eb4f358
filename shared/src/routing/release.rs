//! The way back: a woken (or deleted) service's rules get their own forward again once its
//! target groups are healthy, and a waking group no rule uses any more is deleted. Only what
//! the tool made is touched: a rule forwarding to the load balancer's waking group with a saved
//! forward naming the service's own target groups, a target group named and marked as a waking
//! group.
//!
//! A rule put back keeps the tool's two tags (the service, its forward): they describe the rule
//! as it is, and the next sleep writes them afresh. Removing them would race a run putting the
//! same service to sleep (its tags written, then the swap, then this removal) and leave a rule
//! forwarding to the waker with nothing saying where it forwarded before. Elastic Load
//! Balancing has no conditional write to order the two.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    forward_tag, forwards_to_waker, group_name, ours, route_to_waker, served_load_balancers, waking_group_name, Routing,
};
use crate::fleet::{CallError, ChangeService, ReadTraffic, RouteRequests};
use crate::model::{Fresh, ListenerRule, ServiceId};

/// Puts back the forward of every rule swapped for `service_arn` once each of `serves` (its
/// target groups now; none when it was deleted) has a healthy target. `Ok(false)` while not yet.
pub async fn release<C: RouteRequests>(
    changer: &C,
    service_arn: &str,
    serves: &[String],
    rules: &[ListenerRule],
    routing: Routing<'_>,
    steps: &mut Vec<String>,
) -> Result<bool, CallError> {
    if !serves.is_empty() && !changer.all_healthy(serves).await? {
        return Ok(false);
    }
    for rule in rules.iter().filter(|r| r.tags.get(routing.key).is_some_and(|v| v == service_arn)) {
        let saved = match forward_tag::decode(routing.key, &rule.tags) {
            Some(Ok(saved)) => saved,
            Some(Err(why)) => {
                steps.push(format!("rule {}: its saved forward is damaged ({why}); left as it is", rule.arn));
                continue;
            }
            None => {
                steps.push(format!("rule {}: no saved forward; left as it is", rule.arn));
                continue;
            }
        };
        if !forwards_to_waker(rule) {
            // Put back already (its tags stay, see the module comment), or someone else's.
            continue;
        }
        if !serves.is_empty() {
            if let Some(foreign) = saved.target_groups().into_iter().find(|g| !serves.contains(g)) {
                steps.push(format!(
                    "rule {}: its saved forward names {foreign}, not a target group of this service; left with the waker",
                    rule.arn
                ));
                continue;
            }
        }
        match changer.forward_rule(&rule.arn, &saved).await {
            Ok(()) => {}
            Err(e) if e.code.as_deref() == Some("TargetGroupNotFound") => {
                steps.push(format!(
                    "rule {}: the target groups it forwarded to are gone; left with the waker (delete the rule)",
                    rule.arn
                ));
                continue;
            }
            Err(e) => return Err(e),
        }
        steps.push(format!("rule {} forwards to the service again", rule.arn));
    }
    Ok(true)
}

/// Takes down the waking routing of every awake service whose target groups are healthy again,
/// and of services that no longer exist, and deletes waking groups no rule uses; leaves it for
/// sleeping ones. What was done or is still waiting, in words, for the summary.
pub async fn release_awake<F: ReadTraffic + ChangeService + RouteRequests>(
    fleet: &F,
    saved_key: &str,
    routing: Routing<'_>,
) -> Vec<String> {
    release_where(fleet, saved_key, routing, None).await
}

/// `release_awake` for these services only (`wake`, the waker).
pub async fn release_services<F: ChangeService + RouteRequests + ReadTraffic>(
    fleet: &F,
    saved_key: &str,
    routing: Routing<'_>,
    ids: &[ServiceId],
) -> Vec<String> {
    if ids.is_empty() {
        return Vec::new();
    }
    release_where(fleet, saved_key, routing, Some(ids)).await
}

async fn release_where<F: ChangeService + RouteRequests + ReadTraffic>(
    fleet: &F,
    saved_key: &str,
    routing: Routing<'_>,
    only: Option<&[ServiceId]>,
) -> Vec<String> {
    let groups = match fleet.waking_groups(routing.marker).await {
        Ok(groups) => groups,
        Err(e) => return vec![format!("could not list waking target groups: {e}")],
    };
    let lbs = served_load_balancers(&groups, routing.key, routing.marker);
    if lbs.is_empty() {
        return Vec::new();
    }
    let rules = match fleet.listener_rules(&lbs, &[]).await {
        Ok(rules) => rules,
        Err(e) => return vec![format!("could not read the waking rules: {e}")],
    };
    // Only rules still with the waker: a rule put back keeps its tags, and its service has
    // nothing left to release.
    let named: BTreeSet<ServiceId> = rules
        .iter()
        .filter(|r| forwards_to_waker(r))
        .filter_map(|r| ServiceId::from_arn(r.tags.get(routing.key)?))
        .filter(|id| only.is_none_or(|only| only.contains(id)))
        .collect();
    let mut lines = release_named(fleet, saved_key, routing, &named.into_iter().collect::<Vec<_>>(), &rules).await;
    if only.is_none() {
        lines.extend(remove_unused(fleet, routing, &groups, &lbs).await);
    }
    lines
}

async fn release_named<F: ChangeService + RouteRequests + ReadTraffic>(
    fleet: &F,
    saved_key: &str,
    routing: Routing<'_>,
    ids: &[ServiceId],
    rules: &[ListenerRule],
) -> Vec<String> {
    if ids.is_empty() {
        return Vec::new();
    }
    let fresh: BTreeMap<ServiceId, Fresh> = match fleet.current(ids, saved_key).await {
        Ok(rows) => rows.into_iter().map(|f| (f.id.clone(), f)).collect(),
        Err(e) => return vec![format!("could not read the services behind the waking rules: {e}")],
    };
    let mut lines = Vec::new();
    for id in ids {
        let serves = match fresh.get(id) {
            Some(f) if f.tag.is_some() => continue,
            Some(f) => f.target_groups.clone(),
            // Deleted: nothing will become healthy; put its rules back now.
            None => Vec::new(),
        };
        let mut steps = Vec::new();
        match release(fleet, &id.arn, &serves, rules, routing, &mut steps).await {
            Ok(true) => {
                // Check after write: a run that put the service to sleep while this one put its
                // rules back would leave it asleep without a waking page. Route it again.
                let slept = fleet
                    .current(std::slice::from_ref(id), saved_key)
                    .await
                    .map(|f| f.first().is_some_and(|f| f.tag.is_some()));
                if matches!(slept, Ok(true)) {
                    let none = BTreeSet::new();
                    match route_to_waker(fleet, id, &serves, &none, routing, &mut steps).await {
                        Ok(_) => steps.push("put to sleep meanwhile by another run: waking routing put back".into()),
                        Err(e) => {
                            steps.push(format!("put to sleep meanwhile; putting the waking routing back failed: {e}"))
                        }
                    }
                }
                let what = if fresh.contains_key(id) { "awake and healthy" } else { "no longer exists" };
                lines.push(format!("{id}: {what}: {}", steps.join(", ")))
            }
            Ok(false) => lines.push(format!("{id}: awake, waiting for a healthy target before routing back")),
            Err(e) => lines.push(format!("{id}: routing back failed after {steps:?}: {e}")),
        }
    }
    lines
}

/// Deletes the tool's waking groups that no rule forwards to any more (read again: the rules
/// just changed). A failure is said and the rest go on.
async fn remove_unused<F: ReadTraffic + RouteRequests>(
    fleet: &F,
    routing: Routing<'_>,
    groups: &[(String, crate::model::Tags)],
    lbs: &[String],
) -> Vec<String> {
    let rules = match fleet.listener_rules(lbs, &[]).await {
        Ok(rules) => rules,
        Err(e) => return vec![format!("could not read the rules to clean up waking groups: {e}")],
    };
    let mut lines = Vec::new();
    for (arn, tags) in groups {
        let Some(lb) = ours(tags, routing.key, routing.marker) else { continue };
        if group_name(arn) != waking_group_name(&lb) || rules.iter().any(|r| r.forwards_to.contains(arn)) {
            continue;
        }
        match fleet.delete_target_group(arn).await {
            Ok(()) => lines.push(format!("removed waking target group {arn}: no rule uses it")),
            Err(e) => lines.push(format!("removing waking target group {arn} failed: {e}")),
        }
    }
    lines
}
