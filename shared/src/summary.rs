//! The JSON summary every run returns and logs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::Outcome;
use crate::plan::{rfc3339, Capacity, Invocation};
use crate::savings::{totals, Savings, ServiceCost};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub mode: &'static str,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Waking routing taken down (or still waiting for healthy targets) this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routing: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceReport {
    pub arn: String,
    pub cluster: String,
    pub service: String,
    pub action: &'static str,
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
    pub fn new(inv: &Invocation, outcomes: Vec<Outcome>, warnings: Vec<String>) -> Summary {
        let mut counts = BTreeMap::new();
        let second_passes = outcomes.iter().filter(|o| o.second_pass).count() as u32;
        let services: Vec<ServiceReport> = outcomes
            .into_iter()
            .map(|o| {
                let action = if o.error.is_some() {
                    "failed"
                } else if o.not_reached {
                    "not_reached"
                } else {
                    o.entry.action.name(inv.dry_run)
                };
                *counts.entry(action).or_insert(0) += 1;
                ServiceReport {
                    arn: o.entry.id.arn,
                    cluster: o.entry.id.cluster,
                    service: o.entry.id.name,
                    action,
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
        Summary {
            mode: inv.mode.name(),
            dry_run: inv.dry_run,
            force: inv.force,
            now: rfc3339(inv.now),
            counts,
            aws_calls: BTreeMap::new(),
            aws_retries: BTreeMap::new(),
            second_passes,
            savings: Savings::default(),
            services,
            warnings,
            routing: Vec::new(),
        }
    }

    /// Attaches each service's cost entry (same order as the services) and adds up the totals.
    pub fn add_costs(&mut self, costs: Vec<Option<ServiceCost>>) {
        for (report, cost) in self.services.iter_mut().zip(costs) {
            report.cost = cost;
        }
        self.savings = totals(self.services.iter().filter_map(|s| s.cost.as_ref()));
    }

    /// Services that failed or that the run's deadline left untouched: either makes the
    /// invocation end in an error, so the scheduler retries and alarms see it.
    pub fn failures(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services.iter().filter(|s| s.action == "failed" || s.action == "not_reached")
    }

    /// Renames every `from` entry to `to` (the waker's restores are `woken_by_request`).
    pub fn rename_action(&mut self, from: &str, to: &'static str) {
        let mut moved = 0;
        for s in self.services.iter_mut().filter(|s| s.action == from) {
            s.action = to;
            moved += 1;
        }
        if moved > 0 {
            self.counts.remove(from);
            *self.counts.entry(to).or_insert(0) += moved;
        }
    }

    pub fn count(&self, action: &str) -> u32 {
        self.counts.get(action).copied().unwrap_or(0)
    }
}
