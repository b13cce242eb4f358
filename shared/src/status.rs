//! What the engineers' command line shows: where each managed service stands, why (the planner's
//! own reason, from the same `plan` the functions run), its next transitions, its keep-alive and
//! what its sleep avoids an hour. Read-only, except `set_keep_alive`.
//!
//! Transitions are found by asking the planner at the instants where its answer can change (a
//! schedule window's start or end, local midnight for holidays and days, the keep-alive's expiry,
//! the grace period's end), not by simulating every minute: a service costs a few dozen plans
//! per week ahead, so a 500-service fleet is planned ahead in milliseconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::cost::Launch;
use crate::environment::environment_of;
use crate::fleet::{CallError, ChangeService, ReadFleet, ReadTraffic, Selector};
use crate::keep_alive::{local_to_utc, KeepAlive, KeepAliveState};
use crate::model::ObservedService;
use crate::plan::{plan, Action, Invocation, Mode};
use crate::run::{calls_since, complete, fleet_query, task_hourly, Purpose};
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
    /// The account and region it is in, when read over `TARGETS` (`across`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub cluster: String,
    pub service: String,
    pub arn: String,
    /// The environment it is a member of (`ENVIRONMENT_TAG_KEYS`), if any.
    pub environment: Option<String>,
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

/// One environment's members at a glance: how many are awake, asleep or kept alive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentStatus {
    /// Where it is, over `TARGETS`: an environment is one account and region's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub environment: String,
    pub members: Vec<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetStatus {
    pub now: DateTime<Utc>,
    pub services: Vec<ServiceStatus>,
    pub totals: Totals,
    /// The environments among `services`, by name (services in none are in `totals` only).
    pub environments: Vec<EnvironmentStatus>,
    pub warnings: Vec<String>,
    pub aws_calls: BTreeMap<String, u32>,
    /// Over `TARGETS`: the targets that could not be read, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets_failed: Vec<String>,
}

/// Which services to show: all, one cluster, and/or those carrying a tag (on the service or its
/// cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub cluster: Option<String>,
    pub tag: Option<(String, String)>,
    /// Only the members of this environment.
    pub environment: Option<String>,
}

impl Filter {
    fn keeps(&self, s: &ObservedService, config: &Config) -> bool {
        let cluster = self.cluster.as_ref().is_none_or(|c| *c == s.id.cluster);
        let tag = self
            .tag
            .as_ref()
            .is_none_or(|(k, v)| s.tags.get(k).or_else(|| s.cluster_tags.get(k)).is_some_and(|found| found == v));
        let environment =
            self.environment.as_ref().is_none_or(|e| environment_of(s, config).as_deref() == Some(e.as_str()));
        cluster && tag && environment
    }
}

/// The fleet's standing at `now`, with each service's next transition within `horizon`. The same
/// reads as one `reconcile`: discovery, the scalable targets the plan needs, the request counts
/// of idle candidates, and the task sizes of sleeping Fargate services.
pub async fn status<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
    horizon: Duration,
) -> Result<FleetStatus, CallError> {
    let before = fleet.calls();
    let (services, shown, warnings) = observed(fleet, config, now, filter).await?;
    let mut rows = rows(fleet, config, &services, now, horizon).await;
    rows.retain(|r| shown.contains(&r.arn));
    let totals = totals(&rows);
    let environments = environments(&rows);
    let aws_calls = calls_since(&before, fleet.calls());
    Ok(FleetStatus { now, services: rows, totals, environments, warnings, aws_calls, targets_failed: Vec::new() })
}

/// Each environment among `rows`, with its members' totals.
fn environments(rows: &[ServiceStatus]) -> Vec<EnvironmentStatus> {
    type Key<'a> = (Option<&'a str>, Option<&'a str>, &'a str);
    let mut by_name: BTreeMap<Key, Vec<ServiceStatus>> = BTreeMap::new();
    for r in rows {
        if let Some(env) = r.environment.as_deref() {
            by_name.entry((r.account.as_deref(), r.region.as_deref(), env)).or_default().push(r.clone());
        }
    }
    by_name
        .into_iter()
        .map(|((account, region, name), members)| EnvironmentStatus {
            account: account.map(str::to_string),
            region: region.map(str::to_string),
            environment: name.to_string(),
            totals: totals(&members),
            members: members.iter().map(|m| format!("{}/{}", m.cluster, m.service)).collect(),
        })
        .collect()
}

/// The services to show, as a `reconcile` at `now` would see them.
async fn observed<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
) -> Result<(Vec<ObservedService>, std::collections::BTreeSet<String>, Vec<String>), CallError> {
    let inv = what_if(now);
    let mut observation = fleet.observe(&fleet_query(config, &inv)).await?;
    // Members outside the filter still decide for those in it (a keep-alive on one keeps all).
    let shown: std::collections::BTreeSet<String> =
        observation.services.iter().filter(|s| filter.keeps(s, config)).map(|s| s.id.arn.clone()).collect();
    let wanted: std::collections::BTreeSet<String> = observation
        .services
        .iter()
        .filter(|s| shown.contains(&s.id.arn))
        .filter_map(|s| environment_of(s, config))
        .collect();
    observation
        .services
        .retain(|s| shown.contains(&s.id.arn) || environment_of(s, config).is_some_and(|e| wanted.contains(&e)));
    let mut warnings = observation.warnings;
    let services = &mut observation.services;
    complete(fleet, services, config, inv, &mut warnings, Purpose::Plan).await?;
    Ok((observation.services, shown, warnings))
}

/// What `status` asks the planner: what a `reconcile` would do at `now`, writing nothing.
fn what_if(now: DateTime<Utc>) -> Invocation {
    Invocation { mode: Mode::Reconcile, now, dry_run: true, force: false }
}

/// One upcoming transition of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upcoming {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub cluster: String,
    pub service: String,
    #[serde(flatten)]
    pub transition: Transition,
}

/// Every transition the planner foresees from `now` to `now + horizon`, across the fleet, in
/// time order.
pub async fn upcoming<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
    horizon: Duration,
) -> Result<Vec<Upcoming>, CallError> {
    let (services, shown, _) = observed(fleet, config, now, filter).await?;
    let mut out: Vec<Upcoming> = services
        .iter()
        .filter(|s| shown.contains(&s.id.arn))
        .flat_map(|s| {
            transitions(s, config, now, now + horizon, MAX_TRANSITIONS).into_iter().map(|transition| Upcoming {
                account: None,
                region: None,
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

pub(super) async fn rows<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    services: &[ObservedService],
    now: DateTime<Utc>,
    horizon: Duration,
) -> Vec<ServiceStatus> {
    let inv = what_if(now);
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
            account: None,
            region: None,
            cluster: s.id.cluster.clone(),
            service: s.id.name.clone(),
            arn: s.id.arn.clone(),
            environment: entry.environment.clone(),
            state: state_of(s, &view),
            now: entry.action.reported(true).name(),
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

mod across;
mod explain;
mod keep_alive;
mod transitions;

pub use across::{status_across, upcoming_across};
use explain::{describe_scope, one};
pub use explain::{environment_members, explain, require_cluster, Explanation, LookupError};
pub use keep_alive::{set_keep_alive, KeepAliveChange, SetKeepAliveError, MAX_KEEP_ALIVE_HOURS};
pub use transitions::transitions;

#[cfg(test)]
mod tests;
