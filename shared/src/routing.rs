//! Routing a sleeping service's load balancer traffic to the waker, and back.
//!
//! Decision: **swap, never add.** An Application Load Balancer holds 100 rules and 100 target
//! groups, so a shared preview load balancer cannot take a rule and a target group per sleeping
//! service. While a service sleeps, each listener rule that forwards to it forwards instead to the
//! load balancer's one **waking target group** (`csw-<hash of the load balancer ARN>`, the waker
//! function its only target, tagged `cost-saver:made-by=ecs-cost-saver` at creation). Before the
//! swap, the rule's original forward is written into the rule's own tags (`cost-saver:wakes=<service
//! ARN>`, `cost-saver:wakes-forward…`, see `forward_tag`); on the way back the forward is put back
//! and the tags stay, describing the rule as it is (see `release` for why they are not removed). The number of rules never changes, and a load balancer gets at most
//! one more target group. The waker finds the service by evaluating the swapped rules against the
//! request (`matching`), since the request names only the waking group.
//!
//! Only what the tool can put back exactly is swapped: rules whose actions are one forward to
//! target groups of the one service, none shared with another service in scope. The rest is
//! reported as not covered (the service sleeps without a waking page there, and is never
//! idle-slept). A quota refusal is `not covered: quota`.
//!
//! Order: on sleep, after `saved` is written and before the count goes to 0, so requests meet the
//! waking page, not a 503; all of a service's rules or none (a failure swaps back what was done).
//! On restore the rules stay with the waker until every target group of the service has a healthy
//! target. Each step is idempotent; a later run (or the waker, on the next page reload) finishes
//! what a crash left.

pub mod forward_tag;
pub mod matching;
mod release;

use std::collections::{BTreeMap, BTreeSet};

use crate::fleet::{CallError, ReadTraffic, RouteRequests};
use crate::model::{ListenerRule, ObservedService, ServiceId, Tags, Waking};
use crate::tags::wake_on_request_value;

pub use crate::config::Routing;
pub use release::{release, release_awake, release_services};

/// The value of the `made-by` marker on what the tool creates.
pub const MADE_BY: &str = "ecs-cost-saver";

/// Quota error codes of Elastic Load Balancing: the service sleeps without a waking page.
const QUOTA_CODES: [&str; 5] = [
    "TooManyTargetGroups",
    "TooManyUniqueTargetGroupsPerLoadBalancer",
    "TooManyRules",
    "TooManyTags",
    "TooManyActions",
];

/// The waking target group's name on `load_balancer`: at most 32 characters, letters, digits
/// and hyphens, the same on every run.
pub fn waking_group_name(load_balancer: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in load_balancer.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("csw-{hash:016x}")
}

/// The name in a target group ARN (`…:targetgroup/<name>/<id>`).
fn group_name(arn: &str) -> &str {
    arn.rsplit('/').nth(1).unwrap_or(arn)
}

/// Whether a target group ARN has a waking group's name (not proof it is the tool's).
pub fn is_waking_group(arn: &str) -> bool {
    group_name(arn).starts_with("csw-")
}

/// Whether `rule` forwards to its load balancer's waking group, and only there.
pub fn forwards_to_waker(rule: &ListenerRule) -> bool {
    matches!(rule.forwards_to.as_slice(), [g] if group_name(g) == waking_group_name(&rule.load_balancer))
}

/// The rule is swapped for `service_arn`: it forwards to the waker, names the service, and keeps
/// a readable original forward.
fn swapped_for(rule: &ListenerRule, service_arn: &str, key: &str) -> bool {
    rule.tags.get(key).is_some_and(|v| v == service_arn)
        && forwards_to_waker(rule)
        && matches!(forward_tag::decode(key, &rule.tags), Some(Ok(_)))
}

/// What the routing of one service looks like on its listeners' rules.
#[derive(Debug, Default)]
pub struct Survey<'a> {
    /// Rules already forwarding to the waker for it.
    pub swapped: usize,
    /// Rules forwarding to it that can be swapped.
    pub to_swap: Vec<&'a ListenerRule>,
    /// What cannot be covered, in words.
    pub warnings: Vec<String>,
}

/// Surveys the rules of `service_arn`, whose target groups are `serves`; `shared` are target
/// groups another service in scope also lists.
pub fn survey<'a>(
    service_arn: &str,
    serves: &[String],
    shared: &BTreeSet<String>,
    rules: &'a [ListenerRule],
    routing: Routing<'_>,
) -> Survey<'a> {
    let mut out = Survey::default();
    for rule in rules {
        if swapped_for(rule, service_arn, routing.key) {
            out.swapped += 1;
            continue;
        }
        if !rule.forwards_to.iter().any(|t| serves.contains(t)) {
            if rule.tags.get(routing.key).is_some_and(|v| v == service_arn) && forwards_to_waker(rule) {
                out.warnings.push(format!(
                    "rule {} forwards to the waker but its saved forward is missing or damaged: put its forward back by hand",
                    rule.arn
                ));
            }
            continue;
        }
        match unswappable(rule, serves, shared, routing) {
            Some(why) => out.warnings.push(why),
            None => out.to_swap.push(rule),
        }
    }
    out
}

/// Why a rule forwarding to the service cannot forward to the waker while it sleeps, if so.
fn unswappable(
    rule: &ListenerRule,
    serves: &[String],
    shared: &BTreeSet<String>,
    routing: Routing<'_>,
) -> Option<String> {
    let Some(priority) = rule.priority else {
        return Some(format!(
            "the default action of listener {} forwards to this service: requests it takes get no waking page",
            rule.listener
        ));
    };
    // Read as on services and clusters: anything but `true`/`false` counts as `false`.
    if let Some(value) = rule.listener_tags.get(routing.opt_out).filter(|v| wake_on_request_value(v) != Some(true)) {
        return Some(format!(
            "listener {} opts out ({}={value}): rule {} (priority {priority}) gets no waking page",
            rule.listener, routing.opt_out, rule.arn
        ));
    }
    if let Some(why) = &rule.unsupported {
        return Some(format!("rule {} (priority {priority}): {why}: no waking page for it", rule.arn));
    }
    if rule.forward.is_none() {
        return Some(format!(
            "rule {} (priority {priority}) does more than forward (an authentication, a redirect): no waking page for it",
            rule.arn
        ));
    }
    if let Some(other) = rule.forwards_to.iter().find(|t| !serves.contains(t)) {
        return Some(format!(
            "rule {} (priority {priority}) also forwards to {other}, which is not this service's: no waking page for it",
            rule.arn
        ));
    }
    if let Some(group) = rule.forwards_to.iter().find(|t| shared.contains(*t)) {
        return Some(format!(
            "target group {group} is shared with another service: a shared target group is never routed to the waker"
        ));
    }
    None
}

/// Whether `s`'s requests can reach the waker, given every rule of its listeners.
pub fn coverage(
    s: &ObservedService,
    rules: &[ListenerRule],
    shared: &BTreeSet<String>,
    routing: Routing<'_>,
) -> Waking {
    let found = survey(&s.id.arn, &s.target_groups, shared, rules, routing);
    if !found.warnings.is_empty() {
        return Waking::Uncovered(found.warnings.join("; "));
    }
    match (found.swapped, found.to_swap.len()) {
        (0, 0) => Waking::Uncovered("no listener rule forwards to its target groups".into()),
        (_, 0) => Waking::InPlace,
        _ => Waking::CanBeAdded,
    }
}

/// Target groups that more than one of `services` lists.
pub fn shared_groups(services: &[ObservedService]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut shared = BTreeSet::new();
    for s in services.iter().filter(|s| s.is_active()) {
        let mut own: Vec<&String> = s.target_groups.iter().collect();
        own.dedup();
        for group in own {
            if !seen.insert(group.clone()) {
                shared.insert(group.clone());
            }
        }
    }
    shared
}

/// Every rule of the listeners the routing of services with `target_groups` involves: the load
/// balancers those groups are behind and, when one of them is behind none (every rule to it
/// forwards to the waker, or it is gone), the load balancers of the tool's waking groups.
pub async fn rules_around<F: ReadTraffic>(
    fleet: &F,
    target_groups: &[String],
    routing: Routing<'_>,
) -> Result<Vec<ListenerRule>, CallError> {
    let behind = fleet.load_balancers_of(target_groups).await?;
    let mut lbs: Vec<String> = behind.iter().flat_map(|(_, lbs)| lbs.iter().cloned()).collect();
    let unplaced = target_groups.iter().any(|t| !behind.iter().any(|(g, lbs)| g == t && !lbs.is_empty()));
    if unplaced {
        lbs.extend(waking_load_balancers(fleet, routing).await?);
    }
    lbs.sort();
    lbs.dedup();
    fleet.listener_rules(&lbs, target_groups).await
}

/// The load balancers of the tool's own waking groups.
pub async fn waking_load_balancers<F: ReadTraffic>(fleet: &F, routing: Routing<'_>) -> Result<Vec<String>, CallError> {
    Ok(served_load_balancers(&fleet.waking_groups(routing.marker).await?, routing.key, routing.marker))
}

/// The load balancers these waking groups serve, counting only the tool's own.
pub fn served_load_balancers(groups: &[(String, Tags)], key: &str, marker: &str) -> Vec<String> {
    let mut lbs: Vec<String> = groups.iter().filter_map(|(_, tags)| ours(tags, key, marker)).collect();
    lbs.sort();
    lbs.dedup();
    lbs
}

/// The load balancer a waking group serves (its `key` tag), when the tool made it (`marker`).
pub fn ours(tags: &Tags, key: &str, marker: &str) -> Option<String> {
    (tags.get(marker).map(String::as_str) == Some(MADE_BY)).then(|| tags.get(key).cloned())?
}

/// What putting a service's routing in place left uncovered.
#[derive(Debug, Default)]
pub struct Routed {
    /// Traffic no rule of the tool's can cover, in words.
    pub uncovered: Vec<String>,
    /// A quota refusal (nothing was left changed): the service has no waking page at all.
    pub quota: Option<CallError>,
}

impl Routed {
    /// Everything not covered, as the summary's steps say it.
    pub fn not_covered(&self) -> impl Iterator<Item = String> + '_ {
        let quota = self.quota.iter().map(|e| format!("not covered: quota: {e}"));
        self.uncovered.iter().map(|w| format!("not covered: {w}")).chain(quota)
    }
}

/// Puts the waking routing of one service in place (idempotent), all of its rules or none: a
/// failed step swaps back what this call swapped. A quota refusal is not an error: it comes back
/// in `Routed::quota`, with nothing left changed.
pub async fn route_to_waker<C: RouteRequests + ReadTraffic>(
    changer: &C,
    id: &ServiceId,
    serves: &[String],
    shared: &BTreeSet<String>,
    routing: Routing<'_>,
    steps: &mut Vec<String>,
) -> Result<Routed, CallError> {
    let rules = rules_around(changer, serves, routing).await?;
    let found = survey(&id.arn, serves, shared, &rules, routing);
    let mut routed = Routed { uncovered: found.warnings, quota: None };
    if found.to_swap.is_empty() {
        return Ok(routed);
    }
    let mut done: Vec<&ListenerRule> = Vec::new();
    match swap_all(changer, id, &found.to_swap, routing, steps, &mut done).await {
        Ok(()) => Ok(routed),
        Err(e) => {
            let undone = swap_back(changer, &done, steps).await;
            if let Err(u) = undone {
                steps.push(format!("swapping back after the failure failed too: {u}"));
            }
            if e.code.as_deref().is_some_and(|c| QUOTA_CODES.contains(&c)) {
                routed.quota = Some(e);
                return Ok(routed);
            }
            Err(e)
        }
    }
}

async fn swap_all<'a, C: RouteRequests>(
    changer: &C,
    id: &ServiceId,
    to_swap: &[&'a ListenerRule],
    routing: Routing<'_>,
    steps: &mut Vec<String>,
    done: &mut Vec<&'a ListenerRule>,
) -> Result<(), CallError> {
    // The waking group of each load balancer, made (or found) once per call.
    let mut groups: BTreeMap<&str, String> = BTreeMap::new();
    for rule in to_swap {
        let group = match groups.get(rule.load_balancer.as_str()) {
            Some(g) => g.clone(),
            None => {
                let name = waking_group_name(&rule.load_balancer);
                let g = changer.ensure_waking_group(&name, &group_tags(rule, routing), routing.waker).await?;
                groups.insert(&rule.load_balancer, g.clone());
                g
            }
        };
        let original = rule.forward.as_ref().expect("surveyed: one forward");
        let saved = forward_tag::encode(routing.key, original).map_err(|why| refused(&rule.arn, why))?;
        let mut tags = vec![(routing.key.to_string(), id.arn.clone())];
        tags.extend(saved);
        changer.tag_rule(&rule.arn, &tags).await?;
        if let Err(e) = changer.forward_rule(&rule.arn, &crate::model::Forward::to(&group)).await {
            if e.code.as_deref() != Some("TargetGroupNotFound") {
                return Err(e);
            }
            // A run that found the group unused deleted it meanwhile: make it again, once.
            let name = waking_group_name(&rule.load_balancer);
            let again = changer.ensure_waking_group(&name, &group_tags(rule, routing), routing.waker).await?;
            changer.forward_rule(&rule.arn, &crate::model::Forward::to(&again)).await?;
            groups.insert(&rule.load_balancer, again);
        }
        done.push(rule);
        steps.push(format!("rule {} (priority {}) forwards to the waker", rule.arn, rule.priority.unwrap_or(0)));
    }
    Ok(())
}

/// Puts back the original forward of rules this run swapped (their tags stay: see `release`).
async fn swap_back<C: RouteRequests>(
    changer: &C,
    done: &[&ListenerRule],
    steps: &mut Vec<String>,
) -> Result<(), CallError> {
    for rule in done {
        changer.forward_rule(&rule.arn, rule.forward.as_ref().expect("swapped: one forward")).await?;
        steps.push(format!("rule {} forwards to the service again", rule.arn));
    }
    Ok(())
}

/// The tags a waking group is made with: the tool's marker and the load balancer it serves.
fn group_tags(rule: &ListenerRule, routing: Routing<'_>) -> [(String, String); 2] {
    [(routing.marker.to_string(), MADE_BY.to_string()), (routing.key.to_string(), rule.load_balancer.clone())]
}

fn refused(rule: &str, why: String) -> CallError {
    CallError::refused("elasticloadbalancing:AddTags", format!("rule {rule}: {why}"))
}

#[cfg(test)]
mod tests;
