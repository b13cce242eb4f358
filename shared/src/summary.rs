//! The JSON summary every run returns and logs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::Outcome;
pub use crate::model::Reported;
use crate::plan::{rfc3339, Action, Capacity, Invocation, Mode};
use crate::savings::{totals, Savings, ServiceCost};

/// Which entry point made a summary: its `mode`, and what its restores are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `scale-down`, `scale-up` or `reconcile` (from a schedule, a payload or the CLI).
    Run(Mode),
    /// `wake`: someone asked for services by name, cluster or tag.
    Wake,
    /// The waker: a request through a sleeping service's load balancer.
    Waker,
}

impl Caller {
    pub fn name(self) -> &'static str {
        match self {
            Caller::Run(mode) => mode.name(),
            Caller::Wake => "wake",
            Caller::Waker => "waker",
        }
    }

    /// Whether the run looked at the whole scope (so it knows how many services are awake):
    /// `scale-up` and the wakes see just the services they restore.
    pub fn sees_whole_scope(self) -> bool {
        matches!(self, Caller::Run(Mode::ScaleDown | Mode::Reconcile))
    }

    fn reported(self, action: &Action, dry_run: bool) -> Reported {
        match action.reported(dry_run) {
            Reported::Restored if self == Caller::Waker => Reported::WokenByRequest,
            reported => reported,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Serialized as `mode`: `scale-down`, `scale-up`, `reconcile`, `wake` or `waker`.
    #[serde(rename = "mode", serialize_with = "caller_name")]
    pub caller: Caller,
    pub dry_run: bool,
    pub force: bool,
    pub now: String,
    /// Services per action (`scaled_down`, `restored`, `skipped`, `failed`, …).
    pub counts: BTreeMap<&'static str, u32>,
    /// AWS calls made, per operation.
    pub aws_calls: BTreeMap<String, u32>,
    /// Attempts the SDK retried (throttling, 5xx, dropped connections), per operation.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aws_retries: BTreeMap<String, u32>,
    /// Services that failed with a retryable error and were given a second pass at the end of
    /// the run (whatever it ended in: their `action` says).
    #[serde(skip_serializing_if = "is_zero")]
    pub second_passes: u32,
    /// Estimated money: hourly cost avoided by what sleeps, dollars saved by what was restored.
    pub savings: Savings,
    pub services: Vec<ServiceReport>,
    /// Entries left out of this answer or log line (`hub::within_answer_limit`, and the whole
    /// run's log line over `TARGETS`, whose entries are in each target's own line).
    #[serde(skip_serializing_if = "is_zero")]
    pub services_omitted: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Waking routing taken down (or still waiting for healthy targets) this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routing: Vec<String>,
    /// One entry per account and region when the run worked on `TARGETS` (`hub`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetReport>,
}

/// A summary of nothing yet, by `caller` at `now`.
fn blank(caller: Caller, dry_run: bool, force: bool, now: String) -> Summary {
    Summary {
        caller,
        dry_run,
        force,
        now,
        counts: BTreeMap::new(),
        aws_calls: BTreeMap::new(),
        aws_retries: BTreeMap::new(),
        second_passes: 0,
        savings: Savings::default(),
        services: Vec::new(),
        services_omitted: 0,
        warnings: Vec::new(),
        routing: Vec::new(),
        targets: Vec::new(),
    }
}

fn caller_name<S: serde::Serializer>(caller: &Caller, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(caller.name())
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceReport {
    pub arn: String,
    /// The account and region it is in, when the run worked on `TARGETS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub cluster: String,
    pub service: String,
    /// The environment it is a member of, if any (`ENVIRONMENT_TAG_KEYS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub action: Reported,
    /// Put to sleep for lack of requests (`reconcile`'s idle sleep), not by its schedule.
    #[serde(skip)]
    pub idle: bool,
    pub reason: String,
    pub from: Capacity,
    pub to: Capacity,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<ServiceCost>,
}

impl Summary {
    /// Counts and one report per outcome; the caller adds costs, calls and retries.
    pub fn new(caller: Caller, inv: &Invocation, outcomes: Vec<Outcome>, warnings: Vec<String>) -> Summary {
        let mut counts = BTreeMap::new();
        let second_passes = outcomes.iter().filter(|o| o.second_pass).count() as u32;
        let services: Vec<ServiceReport> = outcomes
            .into_iter()
            .map(|o| {
                let action = if o.error.is_some() {
                    Reported::Failed
                } else if o.not_reached {
                    Reported::NotReached
                } else {
                    caller.reported(&o.entry.action, inv.dry_run)
                };
                *counts.entry(action.name()).or_insert(0) += 1;
                ServiceReport {
                    arn: o.entry.id.arn,
                    account: None,
                    region: None,
                    cluster: o.entry.id.cluster,
                    service: o.entry.id.name,
                    environment: o.entry.environment,
                    action,
                    idle: matches!(o.entry.action, Action::ScaleDown { idle: true, .. }),
                    reason: o.entry.reason,
                    from: o.entry.from,
                    // A failed service is wherever its completed steps left it; `to` is the goal.
                    to: o.entry.to,
                    steps: o.steps,
                    warnings: o.entry.warnings,
                    error_code: o.error.as_ref().and_then(|e| e.code.clone()),
                    error: o.error.map(|e| e.to_string()),
                    cost: None,
                }
            })
            .collect();
        Summary { counts, second_passes, services, warnings, ..blank(caller, inv.dry_run, inv.force, rfc3339(inv.now)) }
    }

    /// The same run's header (who, when, dry run, force) with nothing in it yet: what a share of
    /// it starts from (`hub::per_target`).
    pub fn header(&self) -> Summary {
        blank(self.caller, self.dry_run, self.force, self.now.clone())
    }

    /// Attaches each service's cost entry (same order as the services) and adds up the totals.
    pub fn add_costs(&mut self, costs: Vec<Option<ServiceCost>>) {
        for (report, cost) in self.services.iter_mut().zip(costs) {
            report.cost = cost;
        }
        self.total_costs();
    }

    /// The savings totals from the services' own cost entries.
    pub fn total_costs(&mut self) {
        self.savings = totals(self.services.iter().filter_map(|s| s.cost.as_ref()));
        self.savings.by_environment = crate::savings::by_environment(
            self.services.iter().filter_map(|s| Some((s.environment.as_deref()?, s.cost.as_ref()?))),
        );
    }

    /// Services that failed or that the run's deadline left untouched: either makes the
    /// invocation end in an error, so the scheduler retries and alarms see it.
    pub fn failures(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|s| s.action.is_failure())
    }

    pub fn count(&self, action: Reported) -> u32 {
        self.counts.get(action.name()).copied().unwrap_or(0)
    }
}

/// One target's share of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    pub account: String,
    pub region: String,
    /// Services per action, as the summary's `counts`.
    pub counts: BTreeMap<&'static str, u32>,
    pub services: u32,
    pub aws_calls: u32,
    /// Attempts the SDK retried (throttling, 5xx, dropped connections).
    pub aws_retries: u32,
    pub hourly_usd_avoided: f64,
    /// Why the target was not worked on, or its discovery failed (nothing was changed there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TargetReport {
    pub(crate) fn of(target: &crate::targets::Target, part: Result<&Summary, &String>) -> TargetReport {
        let (account, region) = (target.account.clone(), target.region.clone());
        match part {
            Err(why) => TargetReport {
                account,
                region,
                counts: BTreeMap::new(),
                services: 0,
                aws_calls: 0,
                aws_retries: 0,
                hourly_usd_avoided: 0.0,
                error: Some(why.clone()),
            },
            Ok(s) => TargetReport {
                account,
                region,
                counts: s.counts.clone(),
                services: s.services.len() as u32,
                aws_calls: s.aws_calls.values().sum(),
                aws_retries: s.aws_retries.values().sum(),
                hourly_usd_avoided: s.savings.hourly_usd_avoided,
                error: None,
            },
        }
    }
}
