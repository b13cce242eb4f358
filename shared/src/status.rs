//! What the engineers' command line shows: where each managed service stands, why (the planner's
//! own reason, from the same `plan` the functions run), its next transitions, its keep-alive and
//! what its sleep avoids an hour. Read-only, except `set_keep_alive`.
//!
//! Transitions are found by asking the planner at the instants where its answer can change (a
//! schedule window's start or end, local midnight for holidays and days, the keep-alive's expiry,
//! the grace period's end), not by simulating every minute: a service costs a few dozen plans
//! per week ahead, so a 500-service fleet is planned ahead in milliseconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::cost::Launch;
use crate::fleet::{CallError, ChangeService, ReadFleet, Selector};
use crate::keep_alive::{local_to_utc, KeepAlive, KeepAliveState};
use crate::model::ObservedService;
use crate::plan::{plan, Action, Invocation, Mode};
use crate::run::{add_requests, add_targets, calls_since, fleet_query, task_hourly};
use crate::saved::SavedState;
use crate::savings::{service_cost, Standing};
use crate::schedule::Hours;
use crate::tags::{read_tags, Scope, TagView};

/// A change the planner will make: `sleep` or `wake`, at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub at: DateTime<Utc>,
    /// `at` in the service's zone, `2026-11-23 20:00 Europe/Berlin`.
    pub local: String,
    pub to: &'static str,
    pub reason: String,
}

/// One managed service (or one that still carries saved state).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStatus {
    pub cluster: String,
    pub service: String,
    pub arn: String,
    /// `awake`, `asleep`, `kept-alive`, `protected`, `not-managed` (saved state, out of scope).
    pub state: &'static str,
    /// What a `reconcile` would do now (`would_scale_down`, `would_restore`, ..., `skipped`).
    pub now: &'static str,
    pub reason: String,
    pub zone: String,
    pub next: Option<Transition>,
    /// `forever`, or the instant it ends; absent without an active keep-alive.
    pub keep_alive_until: Option<String>,
    /// Tasks it runs awake (asleep: the saved count).
    pub tasks: u32,
    /// Asleep: what its tasks would cost an hour (Fargate prices).
    pub hourly_usd_avoided: Option<f64>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub services: u32,
    pub awake: u32,
    pub asleep: u32,
    pub kept_alive: u32,
    pub asleep_tasks: u64,
    pub hourly_usd_avoided: f64,
    /// Asleep services without a dollar figure (EC2, Spot, unknown size).
    pub not_estimated: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetStatus {
    pub now: DateTime<Utc>,
    pub services: Vec<ServiceStatus>,
    pub totals: Totals,
    pub warnings: Vec<String>,
    pub aws_calls: BTreeMap<String, u32>,
}

/// Which services to show: all, one cluster, and/or those carrying a tag (on the service or its
/// cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub cluster: Option<String>,
    pub tag: Option<(String, String)>,
}

impl Filter {
    fn keeps(&self, s: &ObservedService) -> bool {
        let cluster = self.cluster.as_ref().is_none_or(|c| *c == s.id.cluster);
        let tag = self
            .tag
            .as_ref()
            .is_none_or(|(k, v)| s.tags.get(k).or_else(|| s.cluster_tags.get(k)).is_some_and(|found| found == v));
        cluster && tag
    }
}

/// The fleet's standing at `now`, with each service's next transition within `horizon`. The same
/// reads as one `reconcile`: discovery, the scalable targets the plan needs, the request counts
/// of idle candidates, and the task sizes of sleeping Fargate services.
pub async fn status<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
    horizon: Duration,
) -> Result<FleetStatus, CallError> {
    let before = fleet.calls();
    let (services, warnings) = observed(fleet, config, now, filter).await?;
    let rows = rows(fleet, config, &services, now, horizon).await;
    let totals = totals(&rows);
    Ok(FleetStatus { now, services: rows, totals, warnings, aws_calls: calls_since(&before, fleet.calls()) })
}

/// The services to show, as a `reconcile` at `now` would see them.
async fn observed<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
) -> Result<(Vec<ObservedService>, Vec<String>), CallError> {
    let inv = Invocation { mode: Mode::Reconcile, now, dry_run: true, force: false };
    let mut observation = fleet.observe(&fleet_query(config, &inv)).await?;
    observation.services.retain(|s| filter.keeps(s));
    let mut warnings = observation.warnings;
    let services = &mut observation.services;
    add_targets(fleet, services, config, inv).await?;
    add_requests(fleet, services, config, inv, &mut warnings).await;
    Ok((observation.services, warnings))
}

/// One upcoming transition of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upcoming {
    pub cluster: String,
    pub service: String,
    #[serde(flatten)]
    pub transition: Transition,
}

/// Every transition the planner foresees from `now` to `now + horizon`, across the fleet, in
/// time order.
pub async fn upcoming<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
    horizon: Duration,
) -> Result<Vec<Upcoming>, CallError> {
    let (services, _) = observed(fleet, config, now, filter).await?;
    let mut out: Vec<Upcoming> = services
        .iter()
        .flat_map(|s| {
            transitions(s, config, now, now + horizon, MAX_TRANSITIONS).into_iter().map(|transition| Upcoming {
                cluster: s.id.cluster.clone(),
                service: s.id.name.clone(),
                transition,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.transition.at, &a.cluster, &a.service).cmp(&(b.transition.at, &b.cluster, &b.service)));
    Ok(out)
}

/// Per service and call: two a day for a month is 62.
const MAX_TRANSITIONS: usize = 64;

async fn rows<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    services: &[ObservedService],
    now: DateTime<Utc>,
    horizon: Duration,
) -> Vec<ServiceStatus> {
    let inv = Invocation { mode: Mode::Reconcile, now, dry_run: true, force: false };
    let planned = plan(services, config, inv);
    let by_id: BTreeMap<_, _> = services.iter().map(|s| (&s.id, s)).collect();
    let asleep_fargate: Vec<String> = planned
        .entries
        .iter()
        .filter_map(|e| by_id.get(&e.id))
        .filter(|s| s.launch == Launch::Fargate && saved_of(s, config).is_some())
        .filter_map(|s| s.task_definition.clone())
        .collect();
    let sizes = if asleep_fargate.is_empty() { BTreeMap::new() } else { fleet.task_sizes(&asleep_fargate).await };
    let mut rows = Vec::new();
    for entry in &planned.entries {
        let Some(s) = by_id.get(&entry.id) else { continue };
        let view = read_tags(s, config, now);
        let saved = saved_of(s, config);
        let tasks = saved.as_ref().map_or(s.desired, |saved| saved.desired);
        let hourly_usd_avoided = match &saved {
            Some(_) if s.desired == 0 => service_cost(Standing::Asleep { tasks }, task_hourly(s, &sizes, config), now)
                .and_then(|c| c.hourly_usd_avoided)
                .map(crate::cost::round_usd),
            _ => None,
        };
        rows.push(ServiceStatus {
            cluster: s.id.cluster.clone(),
            service: s.id.name.clone(),
            arn: s.id.arn.clone(),
            state: state_of(s, &view),
            now: entry.action.name(true),
            reason: entry.reason.clone(),
            zone: view.zone.name().to_string(),
            next: transitions(s, config, now, now + horizon, 1).into_iter().next(),
            keep_alive_until: match view.keep_alive {
                KeepAliveState::Active { until: None } => Some("forever".into()),
                KeepAliveState::Active { until: Some(t) } => Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                KeepAliveState::Inactive => None,
            },
            tasks,
            hourly_usd_avoided,
            warnings: entry.warnings.clone(),
        });
    }
    rows
}

fn saved_of(s: &ObservedService, config: &Config) -> Option<SavedState> {
    crate::tags::saved_state(s, config).and_then(Result::ok)
}

fn state_of(s: &ObservedService, view: &TagView) -> &'static str {
    match (&view.saved, &view.scope, &view.keep_alive) {
        (Some(_), Scope::OutOfScope, _) => "not-managed",
        (Some(_), _, _) if s.desired == 0 => "asleep",
        (Some(_), _, _) => "half-way",
        (None, Scope::Protected { .. }, _) => "protected",
        (None, _, KeepAliveState::Active { .. }) => "kept-alive",
        (None, _, KeepAliveState::Inactive) => "awake",
    }
}

fn totals(rows: &[ServiceStatus]) -> Totals {
    let mut t = Totals::default();
    for r in rows {
        t.services += 1;
        match r.state {
            "asleep" => {
                t.asleep += 1;
                t.asleep_tasks += u64::from(r.tasks);
                match r.hourly_usd_avoided {
                    Some(usd) => t.hourly_usd_avoided += usd,
                    None => t.not_estimated += 1,
                }
            }
            "kept-alive" => t.kept_alive += 1,
            _ => t.awake += 1,
        }
    }
    t.hourly_usd_avoided = crate::cost::round_usd(t.hourly_usd_avoided);
    t
}

/// The planner's transitions for `service` from `from` (included: a change due now) to `until`,
/// at most `limit`. Future traffic is unknown, so idle sleeps are not foreseen.
pub fn transitions(
    service: &ObservedService,
    config: &Config,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<Transition> {
    let mut s = service.clone();
    s.requests = None;
    let mut out = Vec::new();
    for at in candidates(&s, config, from, until) {
        if out.len() >= limit {
            break;
        }
        let inv = Invocation { mode: Mode::Reconcile, now: at, dry_run: true, force: false };
        let Some(entry) = plan(std::slice::from_ref(&s), config, inv).entries.into_iter().next() else { break };
        let to = match &entry.action {
            Action::ScaleDown { saved, .. } => {
                match saved.to_tag_value() {
                    Ok(value) => s.tags.insert(config.tags.saved.clone(), value),
                    Err(_) => break,
                };
                s.desired = 0;
                "sleep"
            }
            Action::KeepAsleep { .. } => {
                s.desired = 0;
                "sleep"
            }
            Action::Restore { desired, .. } => {
                s.tags.remove(&config.tags.saved);
                s.desired = desired.unwrap_or(s.desired);
                "wake"
            }
            Action::Skip => continue,
        };
        let zone = read_tags(&s, config, at).zone;
        let local = format!("{} {}", at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M"), zone.name());
        out.push(Transition { at, local, to, reason: entry.reason });
    }
    out
}

/// The instants in `[from, until]` where the plan for `s` can change, in order.
fn candidates(s: &ObservedService, config: &Config, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let view = read_tags(s, config, from);
    let zone = view.zone;
    let mut at = vec![from];
    if let KeepAliveState::Active { until: Some(expiry) } = view.keep_alive {
        at.push(expiry);
    }
    if let Some(deployed) = s.last_deployed_at {
        at.push(deployed + Duration::minutes(config.grace_period_minutes.into()));
    }
    let minutes: Vec<u16> = match &view.schedule.hours {
        Hours::Windows(windows) => windows.iter().flat_map(|w| [w.start, w.end]).collect(),
        Hours::Always | Hours::Never => Vec::new(),
    };
    let first: NaiveDate = from.with_timezone(&zone).date_naive() - Duration::days(1);
    let last: NaiveDate = until.with_timezone(&zone).date_naive() + Duration::days(1);
    let mut day = first;
    while day <= last {
        for minute in std::iter::once(0).chain(minutes.iter().copied()) {
            let local = day.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::minutes(minute.into());
            at.push(local_to_utc(zone, local));
        }
        day += Duration::days(1);
    }
    at.retain(|t| *t >= from && *t <= until);
    at.sort();
    at.dedup();
    at
}

/// Why one service stands where it does: the planner's inputs in the order it weighs them, and
/// its decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub cluster: String,
    pub service: String,
    pub at: DateTime<Utc>,
    /// `(rule, what it found)`, in the planner's order.
    pub rules: Vec<(String, String)>,
    /// What a `reconcile` at `at` would do, and why.
    pub action: &'static str,
    pub reason: String,
    pub next: Vec<Transition>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// What is missing: `cluster C`, or `service C/S (or it is not ACTIVE)`.
    #[error("no {0}")]
    NotFound(String),
    #[error("{0}")]
    Call(#[from] CallError),
}

/// One service, as discovery and the planner see it.
async fn one<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    cluster: &str,
    service: &str,
    at: DateTime<Utc>,
) -> Result<ObservedService, LookupError> {
    let selector = Selector::Service { cluster: cluster.into(), service: service.into() };
    let observation = fleet.select(&selector).await?;
    if observation.missing.iter().any(|m| m.starts_with("cluster ")) {
        return Err(LookupError::NotFound(format!("cluster {cluster}")));
    }
    let mut found = observation.services;
    found.retain(|s| s.id.name == service && s.id.cluster == cluster && s.status == "ACTIVE");
    let inv = Invocation { mode: Mode::Reconcile, now: at, dry_run: true, force: false };
    add_targets(fleet, &mut found, config, inv).await?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| LookupError::NotFound(format!("service {cluster}/{service} (or it is not ACTIVE)")))
}

/// `Ok` when the cluster exists. Asked only when a filter on it matched nothing: an empty table
/// for a misspelt name would read as "nothing managed there".
pub async fn require_cluster<F: ReadFleet>(fleet: &F, cluster: &str) -> Result<(), LookupError> {
    let observation = fleet.select(&Selector::Cluster { cluster: cluster.into() }).await?;
    if observation.missing.iter().any(|m| m.starts_with("cluster ")) {
        return Err(LookupError::NotFound(format!("cluster {cluster}")));
    }
    Ok(())
}

pub async fn explain<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    cluster: &str,
    service: &str,
    at: DateTime<Utc>,
) -> Result<Explanation, LookupError> {
    let s = one(fleet, config, cluster, service, at).await?;
    let view = read_tags(&s, config, at);
    let inv = Invocation { mode: Mode::Reconcile, now: at, dry_run: true, force: false };
    let entry = plan(std::slice::from_ref(&s), config, inv).entries.into_iter().next();
    let mut rules = vec![
        (
            "service".to_string(),
            format!("{}, {:?}, desired {} (running {})", s.status, s.strategy, s.desired, s.running),
        ),
        ("scope".to_string(), describe_scope(&view, config)),
        (
            "saved state".to_string(),
            match &view.saved {
                None => "none: awake as far as the tool knows".into(),
                Some(Ok(saved)) => format!("`{}`: asleep since {}", saved, saved.at.to_rfc3339()),
                Some(Err(e)) => format!("unreadable: {e}"),
            },
        ),
        (
            "keep-alive".to_string(),
            match (&view.keep_alive, view.keep_alive_source) {
                (KeepAliveState::Active { until: None }, Some(src)) => {
                    format!("on the {}, until removed", src.describe())
                }
                (KeepAliveState::Active { until: Some(t) }, Some(src)) => {
                    format!("on the {}, until {}", src.describe(), t.to_rfc3339())
                }
                _ => "none active".into(),
            },
        ),
    ];
    let verdict = view.schedule.verdict(at, config.timezone, &config.holidays);
    rules.push(("schedule".to_string(), format!("from the {}: {}", view.schedule_source.describe(), verdict.why)));
    if let Some(deployed) = s.last_deployed_at {
        let ends = deployed + Duration::minutes(config.grace_period_minutes.into());
        let state = if at < ends { "in it: not put to sleep" } else { "over" };
        rules.push((
            "grace period".to_string(),
            format!(
                "{} min after the last deployment ({}): {state}",
                config.grace_period_minutes,
                deployed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    rules.push((
        "wake on request".to_string(),
        match (view.wake_on_request, s.target_groups.len(), config.routing().is_some()) {
            (_, 0, _) => "no load balancer".into(),
            (false, _, _) => format!("off ({}=false)", config.tags.wake_on_request),
            (true, n, true) => format!("on: {n} target group(s) routed to the waker while it sleeps"),
            (true, _, false) => "no waker deployed".into(),
        },
    ));
    rules.push((
        "idle".to_string(),
        match (view.idle_after, s.requests) {
            (None, _) => "off".into(),
            (Some(m), Some(r)) => format!("after {m} min without a request; {r} request(s) in the last {m} min"),
            (Some(m), None) => format!("after {m} min without a request (traffic read by reconcile)"),
        },
    ));
    let (action, reason, warnings) = match entry {
        Some(e) => (e.action.name(true), e.reason, e.warnings),
        None => ("skipped", format!("not managed: no {} in scope and no saved state", config.scope_tag_key), vec![]),
    };
    let next = transitions(&s, config, at, at + Duration::days(8), 2);
    Ok(Explanation { cluster: cluster.into(), service: service.into(), at, rules, action, reason, next, warnings })
}

fn describe_scope(view: &TagView, config: &Config) -> String {
    let key = &config.scope_tag_key;
    match &view.scope {
        Scope::Managed => format!("managed: {key} has a scope value ({})", config.scope_tag_values.join(", ")),
        Scope::Protected { value, source } => format!("protected: {key}={value} on the {}", source.describe()),
        Scope::OutOfScope => format!("not managed: {key} has no scope value"),
        Scope::Untrimmed { value, source } => {
            format!("{key}=`{value}` on the {} has spaces around it: never changed", source.describe())
        }
    }
}

/// A keep-alive to write: until an instant, or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveChange {
    Until(DateTime<Utc>),
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepAliveError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("{0} is protected ({1}): the tool never touches it")]
    Protected(String, String),
    #[error("{0} is not managed by the tool ({1}): a keep-alive would change nothing")]
    NotManaged(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Call(#[from] CallError),
}

/// The longest keep-alive the command writes: a year.
pub const MAX_KEEP_ALIVE_HOURS: u32 = 366 * 24;

/// Writes (or removes) the service's keep-alive tag, by name, and returns its standing after.
pub async fn set_keep_alive<F: ReadFleet + ChangeService>(
    fleet: &F,
    config: &Config,
    cluster: &str,
    service: &str,
    change: KeepAliveChange,
    now: DateTime<Utc>,
) -> Result<ServiceStatus, KeepAliveError> {
    let s = one(fleet, config, cluster, service, now).await?;
    let name = format!("{cluster}/{service}");
    let view = read_tags(&s, config, now);
    match &view.scope {
        Scope::Protected { .. } | Scope::Untrimmed { .. } => {
            return Err(KeepAliveError::Protected(name, describe_scope(&view, config)))
        }
        Scope::OutOfScope if view.saved.is_none() => {
            return Err(KeepAliveError::NotManaged(name, describe_scope(&view, config)))
        }
        _ => {}
    }
    let key = &config.tags.keep_alive;
    match change {
        KeepAliveChange::Until(until) => {
            if until <= now {
                return Err(KeepAliveError::Invalid(format!("keep-alive until {} is in the past", until.to_rfc3339())));
            }
            if until > now + Duration::hours(MAX_KEEP_ALIVE_HOURS.into()) {
                return Err(KeepAliveError::Invalid(format!(
                    "keep-alive until {} is more than {MAX_KEEP_ALIVE_HOURS} hours away",
                    until.to_rfc3339()
                )));
            }
            let value = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            // The value must read back as the planner reads it.
            if KeepAlive::parse(&value).ok().and_then(|k| k.expiry(view.zone)) != until.with_nanosecond(0) {
                return Err(KeepAliveError::Invalid(format!("keep-alive `{value}` would not read back")));
            }
            fleet.tag(&s.id, key, &value).await?;
        }
        KeepAliveChange::Clear => {
            if s.tags.contains_key(key) {
                fleet.untag(&s.id, key).await?;
            }
        }
    }
    let after = one(fleet, config, cluster, service, now).await?;
    let mut rows = rows(fleet, config, std::slice::from_ref(&after), now, Duration::days(8)).await;
    rows.pop().ok_or(KeepAliveError::Lookup(LookupError::NotFound(format!("service {name}"))))
}

#[cfg(test)]
mod tests;
