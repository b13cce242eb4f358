//! One run: observe the fleet, plan, apply (unless dry run), summarise.

use std::collections::BTreeMap;

use crate::apply::apply;
use crate::config::Config;
use crate::fleet::{CallError, ChangeService, FleetQuery, ReadFleet};
use crate::plan::{plan, Invocation};
use crate::summary::Summary;

pub fn fleet_query(config: &Config, inv: &Invocation) -> FleetQuery {
    FleetQuery {
        scope_tag_key: config.scope_tag_key.clone(),
        scope_values: config.scope_tag_values.clone(),
        also_tagged: inv.mode.restores().then(|| config.tags.saved.clone()),
    }
}

/// Runs one invocation. `Err` only when discovery fails (nothing was changed); service failures
/// are in the summary, and the caller decides how to surface them.
pub async fn run<F: ReadFleet + ChangeService>(
    fleet: &F,
    config: &Config,
    inv: Invocation,
) -> Result<Summary, CallError> {
    run_until(fleet, config, inv, None).await
}

/// Like `run`, starting no service after `deadline`: those are reported `not_reached`.
pub async fn run_until<F: ReadFleet + ChangeService>(
    fleet: &F,
    config: &Config,
    inv: Invocation,
    deadline: Option<std::time::Instant>,
) -> Result<Summary, CallError> {
    // A warm Lambda reuses the fleet across invocations: report this run's calls only.
    let (calls_before, retries_before) = (fleet.calls(), fleet.retries());
    let observation = fleet.observe(&fleet_query(config, &inv)).await?;
    let plan = plan(&observation.services, config, inv);
    tracing::info!(mode = inv.mode.name(), dry_run = inv.dry_run, services = plan.entries.len(), "planned");
    let outcomes = apply(&plan, fleet, &config.tags.saved, &config.limits(deadline)).await;
    let mut summary = Summary::new(&inv, outcomes, calls_since(&calls_before, fleet.calls()), observation.warnings);
    summary.aws_retries = calls_since(&retries_before, fleet.retries());
    Ok(summary)
}

pub(crate) fn calls_since(before: &BTreeMap<String, u32>, after: BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    after
        .into_iter()
        .map(|(op, n)| (n.saturating_sub(before.get(&op).copied().unwrap_or(0)), op))
        .filter(|(n, _)| *n > 0)
        .map(|(n, op)| (op, n))
        .collect()
}

#[cfg(test)]
mod tests;
