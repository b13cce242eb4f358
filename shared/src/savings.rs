//! Money: what the sleeping services would cost an hour if they ran, and what each restored
//! service saved while it slept. Pure; the prices per task come from `cost`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::apply::Outcome;
use crate::cost::round_usd;
use crate::plan::Action;
use crate::saved::SavedState;

/// One service's share, in its summary entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceCost {
    /// Tasks it would run awake (the saved desired count).
    pub tasks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_hourly_usd: Option<f64>,
    /// Asleep after this run: what its tasks would cost an hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hourly_usd_avoided: Option<f64>,
    /// Restored by this run: how long it slept and what that saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours_slept: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_saved: Option<f64>,
    /// Why no dollar figure could be given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The run's totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Savings {
    /// Services asleep after this run (in a dry run: that would be), and the tasks they would run.
    pub asleep_services: u32,
    /// Wide enough for any saved counts, however absurd: a total must never overflow.
    pub asleep_tasks: u64,
    /// What those tasks would cost an hour, USD (services whose cost could be estimated).
    pub hourly_usd_avoided: f64,
    pub restored_services: u32,
    pub hours_slept: f64,
    /// Dollars the services restored by this run saved while they slept.
    pub usd_saved: f64,
    /// Asleep or restored services without a dollar figure (Spot, EC2, unknown size).
    pub not_estimated: u32,
    /// The same figures per environment, most hourly cost avoided first (then most saved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_environment: Vec<EnvironmentSavings>,
}

/// One environment's share of the run's savings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvironmentSavings {
    pub environment: String,
    pub asleep_services: u32,
    pub asleep_tasks: u64,
    pub hourly_usd_avoided: f64,
    pub restored_services: u32,
    pub usd_saved: f64,
}

/// The totals of each environment's members, largest first.
pub fn by_environment<'a>(costs: impl IntoIterator<Item = (&'a str, &'a ServiceCost)>) -> Vec<EnvironmentSavings> {
    let mut grouped: std::collections::BTreeMap<&str, Vec<&ServiceCost>> = std::collections::BTreeMap::new();
    for (env, cost) in costs {
        grouped.entry(env).or_default().push(cost);
    }
    let mut out: Vec<EnvironmentSavings> = grouped
        .into_iter()
        .map(|(env, costs)| {
            let t = totals(costs);
            EnvironmentSavings {
                environment: env.to_string(),
                asleep_services: t.asleep_services,
                asleep_tasks: t.asleep_tasks,
                hourly_usd_avoided: t.hourly_usd_avoided,
                restored_services: t.restored_services,
                usd_saved: t.usd_saved,
            }
        })
        .collect();
    out.sort_by(|a, b| b.hourly_usd_avoided.total_cmp(&a.hourly_usd_avoided).then(b.usd_saved.total_cmp(&a.usd_saved)));
    out
}

/// Where a service stands after its outcome, as far as money is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    /// Asleep, with the tasks it would run.
    Asleep { tasks: u32 },
    /// Restored by this run after sleeping since `since`.
    Restored { tasks: u32, since: DateTime<Utc> },
    /// Awake, failed half-way, or restored without readable saved state: no figure.
    None,
}

impl Standing {
    /// `saved` is the service's saved state as discovery read it, if readable.
    pub fn of(outcome: &Outcome, saved: Option<&SavedState>) -> Standing {
        if outcome.error.is_some() || outcome.not_reached {
            return Standing::None;
        }
        match (&outcome.entry.action, saved) {
            (Action::ScaleDown { saved, .. }, _) => Standing::Asleep { tasks: saved.desired },
            (Action::KeepAsleep { .. } | Action::Skip, Some(s)) => Standing::Asleep { tasks: s.desired },
            (Action::Restore { .. }, Some(s)) => Standing::Restored { tasks: s.desired, since: s.at },
            _ => Standing::None,
        }
    }
}

/// The cost entry for one service: `task_hourly` is one task's price an hour, or why there is none.
pub fn service_cost(standing: Standing, task_hourly: Result<f64, String>, now: DateTime<Utc>) -> Option<ServiceCost> {
    let (tasks, slept) = match standing {
        Standing::Asleep { tasks } => (tasks, None),
        Standing::Restored { tasks, since } => (tasks, Some(hours_between(since, now))),
        Standing::None => return None,
    };
    let (price, note) = match task_hourly {
        Ok(p) => (Some(p), None),
        Err(why) => (None, Some(why)),
    };
    let hourly = price.map(|p| p * f64::from(tasks));
    Some(ServiceCost {
        tasks,
        task_hourly_usd: price.map(round_precise),
        hourly_usd_avoided: if slept.is_none() { hourly.map(round_precise) } else { None },
        hours_slept: slept.map(|h| (h * 100.0).round() / 100.0),
        usd_saved: slept.zip(hourly).map(|(h, per_hour)| round_usd(h * per_hour)),
        note,
    })
}

/// Adds up the entries; totals are summed from unrounded parts, then rounded once.
pub fn totals<'a>(costs: impl IntoIterator<Item = &'a ServiceCost>) -> Savings {
    let mut s = Savings::default();
    for c in costs {
        let price = c.task_hourly_usd.map(|p| p * f64::from(c.tasks));
        match c.hours_slept {
            None => {
                s.asleep_services += 1;
                s.asleep_tasks = s.asleep_tasks.saturating_add(u64::from(c.tasks));
                s.hourly_usd_avoided += price.unwrap_or(0.0);
            }
            Some(h) => {
                s.restored_services += 1;
                s.hours_slept += h;
                s.usd_saved += c.usd_saved.unwrap_or(0.0);
            }
        }
        if c.note.is_some() {
            s.not_estimated += 1;
        }
    }
    s.hourly_usd_avoided = round_usd(s.hourly_usd_avoided);
    s.usd_saved = round_usd(s.usd_saved);
    s.hours_slept = (s.hours_slept * 100.0).round() / 100.0;
    s
}

/// Saved states stamped before this were not written by this tool (it did not exist): they save
/// nothing rather than years of imaginary dollars.
const EARLIEST_SAVED_AT: &str = "2020-01-01T00:00:00Z";

fn hours_between(since: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let earliest = DateTime::parse_from_rfc3339(EARLIEST_SAVED_AT).expect("a valid constant");
    if since < earliest {
        return 0.0;
    }
    ((now - since).num_seconds().max(0) as f64) / 3600.0
}

/// Per-task and per-service hourly prices keep more digits than dollar totals: a 0.25 vCPU task
/// costs about a cent an hour.
fn round_precise(usd: f64) -> f64 {
    (usd * 1e7).round() / 1e7
}

#[cfg(test)]
mod tests;
