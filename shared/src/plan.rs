//! The pure planner: `(observed services, now, config, mode) -> Plan`. Every entry carries its
//! action and the reason for it; the plan is exactly what a dry run returns.

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::keep_alive::KeepAliveState;
use crate::model::{Bounds, ObservedService, Reported, SchedulingStrategy, ServiceId, Waking};
use crate::saved::{SavedState, MAX_DESIRED};
use crate::schedule::Verdict;
use crate::tags::{read_tags, Scope, TagView};

/// How far ahead of the function's clock an ECS timestamp may be and still count as "now".
const CLOCK_SKEW_MINUTES: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    ScaleDown,
    ScaleUp,
    /// Both directions: whatever each service's schedule and keep-alive call for now.
    Reconcile,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::ScaleDown => "scale-down",
            Mode::ScaleUp => "scale-up",
            Mode::Reconcile => "reconcile",
        }
    }

    /// Whether this mode restores sleeping services, so discovery must find every service that
    /// carries saved state, in scope or not.
    pub fn restores(self) -> bool {
        matches!(self, Mode::ScaleUp | Mode::Reconcile)
    }
}

/// What one run is asked to do, from the payload and the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    pub mode: Mode,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    /// `scale-down` only: ignore schedules; keep-alive and protection still hold.
    pub force: bool,
}

/// Desired count and, where autoscaled, the scalable target's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub desired: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
}

impl Capacity {
    pub fn new(desired: u32, bounds: Option<Bounds>) -> Capacity {
        Capacity {
            desired,
            min: bounds.map(|b| b.min),
            max: bounds.map(|b| b.max),
            suspended: bounds.map(|b| b.suspended.to_string()),
        }
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "desired {}", self.desired)?;
        if let (Some(min), Some(max)) = (self.min, self.max) {
            write!(f, " [{min}..{max}]")?;
        }
        Ok(())
    }
}

/// The writes one service needs, in the order PRODUCT.md fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `saved` first, then the target to 0/0 all suspended, then desired 0.
    ScaleDown {
        saved: SavedState,
        has_target: bool,
        /// For lack of requests (`reconcile`'s idle sleep), not by its schedule.
        idle: bool,
    },
    /// Already asleep (carries `saved`) but something woke it: back to 0 without touching `saved`.
    /// `saved` is the tag value read, written back only if a concurrent restore removed it.
    KeepAsleep {
        bounds: bool,
        desired: bool,
        saved: String,
    },
    /// Bounds back, then desired back, then `saved` removed last. `saved` is the tag value read,
    /// written back only if a concurrent keep-asleep zeroed the service meanwhile.
    Restore {
        bounds: Option<Bounds>,
        desired: Option<u32>,
        saved: String,
    },
    Skip,
}

impl Action {
    /// What this action is called when it went through (or, in a dry run, would).
    pub fn reported(&self, dry_run: bool) -> Reported {
        match (self, dry_run) {
            (Action::ScaleDown { .. }, false) => Reported::ScaledDown,
            (Action::ScaleDown { .. }, true) => Reported::WouldScaleDown,
            (Action::KeepAsleep { .. }, false) => Reported::KeptAsleep,
            (Action::KeepAsleep { .. }, true) => Reported::WouldKeepAsleep,
            (Action::Restore { .. }, false) => Reported::Restored,
            (Action::Restore { .. }, true) => Reported::WouldRestore,
            (Action::Skip, _) => Reported::Skipped,
        }
    }

    pub fn writes(&self) -> bool {
        !matches!(self, Action::Skip)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    pub id: ServiceId,
    pub action: Action,
    pub reason: String,
    pub from: Capacity,
    pub to: Capacity,
    pub warnings: Vec<String>,
    /// Its load balancer target groups, for the waking routing.
    pub target_groups: Vec<String>,
    /// Those of them another service in the plan's fleet also lists: never routed to the waker.
    pub shared_groups: Vec<String>,
    /// The environment it is a member of (`environment::environment_of`), for the summary.
    pub environment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub invocation: Invocation,
    pub entries: Vec<PlanEntry>,
}

pub fn plan(services: &[ObservedService], config: &Config, invocation: Invocation) -> Plan {
    let views: Vec<TagView> = services.iter().map(|s| read_tags(s, config, invocation.now)).collect();
    let contexts = together::contexts(services, &views, config, invocation);
    let mut entries: Vec<PlanEntry> = services
        .iter()
        .zip(views)
        .zip(&contexts)
        .filter_map(|((s, view), env)| plan_one(s, view, env.as_ref(), config, invocation))
        .collect();
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    let shared = crate::routing::shared_groups(services);
    for e in &mut entries {
        e.shared_groups = e.target_groups.iter().filter(|g| shared.contains(*g)).cloned().collect();
    }
    Plan { invocation, entries }
}

/// `None` for services this tool has no business with (out of scope and carrying no saved state).
fn plan_one(
    service: &ObservedService,
    view: TagView,
    env: Option<&Context>,
    config: &Config,
    inv: Invocation,
) -> Option<PlanEntry> {
    if view.scope == Scope::OutOfScope && view.saved.is_none() {
        return None;
    }
    let from = Capacity::new(service.desired, service.scaling);
    let (action, reason) = decide(service, &view, env, config, inv);
    let to = match &action {
        Action::ScaleDown { has_target, .. } => Capacity::new(0, has_target.then_some(Bounds::ASLEEP)),
        Action::KeepAsleep { .. } => Capacity::new(0, service.scaling.map(|_| Bounds::ASLEEP)),
        Action::Restore { bounds, desired, .. } => {
            Capacity::new(desired.unwrap_or(service.desired), bounds.or(service.scaling))
        }
        Action::Skip => from.clone(),
    };
    let mut warnings = view.warnings.clone();
    warnings.extend(env.iter().flat_map(|e| e.warnings.iter().cloned()));
    if let Scope::Untrimmed { .. } = view.scope {
        warnings.push(reason.clone());
    }
    if let Action::Restore { .. } = action {
        warnings.extend(restore_warnings(service, &view));
    }
    // Opted out of the waking routing: the executor sees no target group to route.
    let target_groups = if view.wake_on_request { service.target_groups.clone() } else { Vec::new() };
    let environment = crate::environment::environment_of(service, config);
    Some(PlanEntry {
        id: service.id.clone(),
        action,
        reason,
        from,
        to,
        warnings,
        target_groups,
        shared_groups: vec![],
        environment,
    })
}

fn decide(
    s: &ObservedService,
    view: &TagView,
    env: Option<&Context>,
    config: &Config,
    inv: Invocation,
) -> (Action, String) {
    if !s.is_active() {
        return (Action::Skip, format!("status is {}, only ACTIVE services are changed", s.status));
    }
    if s.strategy == SchedulingStrategy::Daemon {
        return (Action::Skip, "DAEMON service: only REPLICA services are scaled".into());
    }
    if let Scope::Untrimmed { value, source } = &view.scope {
        return (
            Action::Skip,
            format!(
                "{}=`{value}` on the {} has spaces around it: not changed until the tag is fixed (the IAM guard compares exactly)",
                config.scope_tag_key,
                source.describe()
            ),
        );
    }
    if let Scope::Protected { value, source } = &view.scope {
        let why = format!("protected: {}={value} on the {}", config.scope_tag_key, source.describe());
        return match view.saved {
            Some(_) => (
                restore(s, view, &config.tags.saved),
                format!("{why}; it still carried saved state, so it is restored"),
            ),
            None => (Action::Skip, why),
        };
    }
    let keep_alive = match (&view.keep_alive, env.and_then(|e| Some((&e.name, e.keep_alive.as_ref()?)))) {
        (KeepAliveState::Active { until }, _) => Some(describe_keep_alive(view, *until)),
        (KeepAliveState::Inactive, Some((name, (member, until)))) => Some(match until {
            Some(t) => format!("keep-alive on {member} (environment {name}) until {}", rfc3339(*t)),
            None => format!("keep-alive on {member} (environment {name}, no end)"),
        }),
        (KeepAliveState::Inactive, None) => None,
    };
    let verdict = view.schedule.verdict(inv.now, config.timezone, &config.holidays);

    let facts = Facts { view, env, config, inv, keep_alive, verdict };
    match &view.saved {
        Some(_) => decide_sleeping(s, facts),
        None => decide_awake(s, facts),
    }
}

/// What a decision about one service rests on.
struct Facts<'a> {
    view: &'a TagView,
    env: Option<&'a Context>,
    config: &'a Config,
    inv: Invocation,
    keep_alive: Option<String>,
    verdict: Verdict,
}

/// A service carrying saved state: asleep, or half-way through a transition.
fn decide_sleeping(s: &ObservedService, facts: Facts) -> (Action, String) {
    let Facts { view, env, config, inv, keep_alive, verdict } = facts;
    let restores = inv.mode.restores();
    if view.scope == Scope::OutOfScope {
        return if restores {
            (
                restore(s, view, &config.tags.saved),
                format!("no longer in scope ({}), restoring what was saved", config.scope_tag_key),
            )
        } else {
            (Action::Skip, "no longer in scope; asleep, left for scale-up to restore".into())
        };
    }
    // A service that sleeps when idle wakes on its next request (or a keep-alive), not by the
    // clock: waking it at the start of the day only to idle-sleep it an hour later saves nothing.
    // Only with its waking rules in place: a service whose traffic cannot reach the waker (a
    // listener's default action, an opted-out listener, …) would answer 503 all day.
    // A member without a load balancer waits for the request that wakes its environment.
    let on_request =
        sleeps_until_request(s, view, config) || (s.target_groups.is_empty() && env.is_some_and(|e| e.on_request));
    let wake_reason = keep_alive.or_else(|| (verdict.awake && !inv.force && !on_request).then(|| verdict.why.clone()));
    if on_request && wake_reason.is_none() && verdict.awake && restores && s.desired == 0 {
        return (Action::Skip, "asleep; it sleeps when idle and wakes on its next request (or a keep-alive)".into());
    }
    match (wake_reason, restores) {
        (Some(why), true) => match env.and_then(|e| e.waits_for.as_ref()) {
            Some(first) => (
                Action::Skip,
                format!(
                    "{why}; waits for {first} to have a running task ({}) before it is restored",
                    config.tags.wake_after
                ),
            ),
            None => (restore(s, view, &config.tags.saved), why),
        },
        (Some(why), false) => (Action::Skip, format!("{why}; asleep, left for scale-up to restore")),
        // Only `scale-up` leaves the sleeping alone: the other modes put back what woke up.
        (None, _) if inv.mode == Mode::ScaleUp => (Action::Skip, verdict.why),
        (None, _) => keep_asleep(s, s.tags.get(&config.tags.saved).map(String::as_str).unwrap_or_default()),
    }
}

/// A service without saved state: awake (or a team's deliberate zero).
fn decide_awake(s: &ObservedService, facts: Facts) -> (Action, String) {
    let Facts { view, env, config, inv, keep_alive, verdict } = facts;
    if inv.mode == Mode::ScaleUp {
        return (Action::Skip, "awake: no saved state to restore".into());
    }
    if let Some(keep) = keep_alive {
        return (Action::Skip, keep);
    }
    // A member sleeps when idle only with its whole environment.
    let idle = match env {
        Some(e) => e.idle.clone(),
        None => idle_reason(s, view, config, inv),
    };
    if verdict.awake && !inv.force && idle.is_none() {
        return (Action::Skip, verdict.why);
    }
    if let Some(held) = env.and_then(|e| e.held_by.clone()) {
        return (Action::Skip, held);
    }
    if s.desired == 0 {
        return (Action::Skip, "desired count is 0 and nothing was saved: a team chose zero, left as is".into());
    }
    if let Some((deployed, grace_ends)) = in_grace(s, config, inv.now) {
        return (
            Action::Skip,
            format!(
                "deployed at {}, within the {}-minute grace period until {}",
                rfc3339(deployed),
                config.grace_period_minutes,
                rfc3339(grace_ends)
            ),
        );
    }
    if s.scaling.is_some_and(|b| b.max == 0) {
        return (Action::Skip, "scalable target max is 0 and nothing was saved: a team chose zero, left as is".into());
    }
    // A value that would not read back is refused by the executor, which reports it `failed`.
    let saved = SavedState { desired: s.desired, bounds: s.scaling, at: inv.now };
    let (why, idle) = match idle {
        _ if inv.force => (format!("forced ({})", verdict.why), false),
        Some(idle) if verdict.awake => (idle, true),
        _ => (verdict.why, false),
    };
    (Action::ScaleDown { saved, has_target: s.scaling.is_some(), idle }, why)
}

/// The newest deployment and the end of its grace period, while `now` is within it.
fn in_grace(s: &ObservedService, config: &Config, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let deployed = s.last_deployed_at?;
    let grace_ends = deployed + Duration::minutes(config.grace_period_minutes.into());
    // A deployment later than `now` (beyond clock skew) means a what-if run about a time
    // before it happened: the grace period of a deployment yet to come does not apply.
    let from_the_future = deployed > now + Duration::minutes(CLOCK_SKEW_MINUTES);
    (now < grace_ends && !from_the_future).then_some((deployed, grace_ends))
}

/// Asleep behind waking rules that are all in place: it wakes on its next request, not by the
/// clock.
fn sleeps_until_request(s: &ObservedService, view: &TagView, config: &Config) -> bool {
    wakes_on_request(s, view, config) && s.waking == Some(Waking::InPlace)
}

/// `Some(reason)` when `reconcile` should put an awake service to sleep for lack of requests:
/// load-balanced, an idle-after set and no `always` schedule, its target groups asked and silent
/// for the whole window, and deployed longer ago than the window (a new service has had no
/// chance to be used).
fn idle_reason(s: &ObservedService, view: &TagView, config: &Config, inv: Invocation) -> Option<String> {
    let minutes = view.idle_after?;
    if inv.mode != Mode::Reconcile || !wakes_on_request(s, view, config) || s.requests != Some(0) {
        return None;
    }
    // Only what a request can wake again: every rule of its listeners covered, or coverable.
    if !matches!(s.waking, Some(Waking::InPlace | Waking::CanBeAdded)) {
        return None;
    }
    let window = Duration::minutes(minutes.into());
    if s.last_deployed_at.is_some_and(|d| d + window > inv.now && d <= inv.now + Duration::minutes(CLOCK_SKEW_MINUTES))
    {
        return None;
    }
    Some(format!("idle for {minutes} min: no request through its load balancer (idle-after {minutes}m)"))
}

/// Whether the service sleeps when idle and wakes on requests: an idle-after, a load balancer,
/// the waker deployed (a service nobody can wake by a request must not sleep when idle), and no
/// `always` schedule.
fn wakes_on_request(s: &ObservedService, view: &TagView, config: &Config) -> bool {
    view.idle_after.is_some() && !s.target_groups.is_empty() && config.routing().is_some() && !view.schedule.is_always()
}

fn keep_asleep(s: &ObservedService, saved: &str) -> (Action, String) {
    let bounds = s.scaling.is_some_and(|b| b != Bounds::ASLEEP);
    let desired = s.desired > 0;
    if bounds || desired {
        let action = Action::KeepAsleep { bounds, desired, saved: saved.to_string() };
        (action, "asleep (saved state present) but was woken without a keep-alive".into())
    } else if s.waking == Some(Waking::CanBeAdded) {
        // A rule put back or added by hand while it slept: its requests would meet a 503.
        let action = Action::KeepAsleep { bounds: false, desired: false, saved: saved.to_string() };
        (action, "asleep; a rule forwarding to it does not reach the waker: routing repaired".into())
    } else {
        (Action::Skip, "already asleep".into())
    }
}

fn restore(s: &ObservedService, view: &TagView, saved_key: &str) -> Action {
    let raw = s.tags.get(saved_key).cloned().unwrap_or_default();
    match &view.saved {
        Some(Ok(saved)) => {
            let bounds = match (saved.bounds, s.scaling) {
                (Some(want), Some(have)) if want != have => Some(want),
                _ => None,
            };
            let target = match saved.bounds {
                Some(b) => saved.desired.clamp(b.min, b.max),
                None => saved.desired,
            }
            .min(MAX_DESIRED);
            // Someone who raised the count while it slept wanted more: keep their higher count.
            let desired = (s.desired < target).then_some(target);
            Action::Restore { bounds, desired, saved: raw }
        }
        // Unreadable saved state: one task is the least surprising way to be awake.
        Some(Err(_)) => Action::Restore { bounds: None, desired: (s.desired < 1).then_some(1), saved: raw },
        None => Action::Skip,
    }
}

fn restore_warnings(s: &ObservedService, view: &TagView) -> Vec<String> {
    match (&view.saved, s.scaling) {
        (Some(Ok(saved)), None) if saved.bounds.is_some() => {
            vec!["the scalable target saved with this service no longer exists; bounds not restored".into()]
        }
        (Some(Err(_)), Some(b)) => vec![format!(
            "saved state unreadable: desired set to at least 1, scalable target left at min {} max {} (suspended {}); check it by hand",
            b.min, b.max, b.suspended
        )],
        (Some(Err(_)), None) => vec!["saved state unreadable: desired set to at least 1".into()],
        _ => vec![],
    }
}

fn describe_keep_alive(view: &TagView, until: Option<DateTime<Utc>>) -> String {
    let source = view.keep_alive_source.map(|s| s.describe()).unwrap_or("service");
    match until {
        Some(t) => format!("keep-alive on the {source} until {}", rfc3339(t)),
        None => format!("keep-alive on the {source} (no end)"),
    }
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inv = &self.invocation;
        writeln!(f, "{} plan at {}{}", inv.mode.name(), rfc3339(inv.now), if inv.dry_run { " (dry run)" } else { "" })?;
        for e in &self.entries {
            let arrow = if e.action.writes() { format!("{} -> {}", e.from, e.to) } else { e.from.to_string() };
            writeln!(
                f,
                "  {:<18} {:<40} {arrow}: {}",
                e.action.reported(inv.dry_run).name(),
                e.id.to_string(),
                e.reason
            )?;
        }
        Ok(())
    }
}

mod input;
pub use input::{requests_needed, targets_needed, waking_needed};

mod together;
use together::Context;

#[cfg(test)]
mod tests;
