//! One run: observe the fleet, ask for the scalable targets the plan needs, plan, apply (unless
//! dry run), price what sleeps, summarise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::apply::{apply, Outcome};
use crate::config::Config;
use crate::cost::Launch;
use crate::fleet::{CallError, Fleet, FleetQuery, ReadFleet, ReadTraffic};
use crate::model::{ObservedService, ServiceId};
use crate::pacing::Limits;
use crate::plan::{plan, requests_needed, targets_needed, waking_needed, Invocation, Mode};
use crate::routing::{coverage, release_awake, rules_around, shared_groups};
use crate::savings::{service_cost, ServiceCost, Standing};
use crate::summary::{Caller, Summary};
use crate::tags::saved_state;

pub fn fleet_query(config: &Config, inv: &Invocation) -> FleetQuery {
    FleetQuery {
        scope_tag_key: config.scope_tag_key.clone(),
        in_scope: inv.mode != Mode::ScaleUp,
        scope_values: config.scope_tag_values.clone(),
        also_tagged: inv.mode.restores().then(|| config.tags.saved.clone()),
    }
}

/// Runs one invocation, starting no service after `deadline` (those are reported
/// `not_reached`). `Err` only when discovery fails (nothing was changed); service failures are in
/// the summary, and the caller decides how to surface them.
pub async fn run<F: Fleet>(
    fleet: &F,
    config: &Config,
    inv: Invocation,
    deadline: Option<std::time::Instant>,
) -> Result<Summary, CallError> {
    let before = Counters::read(fleet);
    let mut observation = fleet.observe(&fleet_query(config, &inv)).await?;
    complete(fleet, &mut observation.services, config, inv, &mut observation.warnings, Purpose::Plan).await?;
    let plan = plan(&observation.services, config, inv);
    tracing::info!(mode = inv.mode.name(), dry_run = inv.dry_run, services = plan.entries.len(), "planned");
    let routing = config.routing();
    let outcomes = apply(&plan, fleet, &config.tags.saved, routing, &Limits::for_run(config, deadline)).await;
    // Restores leave the waking routing in place until the service is healthy again: each run
    // that restores takes down what is ready.
    let released = match routing {
        Some(r) if inv.mode.restores() && !inv.dry_run => release_awake(fleet, &config.tags.saved, r).await,
        _ => Vec::new(),
    };
    let ran = Ran {
        caller: Caller::Run(inv.mode),
        inv: &inv,
        services: &observation.services,
        outcomes,
        warnings: observation.warnings,
    };
    let mut summary = summarise(fleet, config, ran, before).await;
    summary.routing = released;
    Ok(summary)
}

/// The fleet's call and retry counters at the start of a run. A warm Lambda reuses the fleet
/// across invocations, so a summary reports the difference: this run's calls only.
pub(crate) struct Counters {
    calls: BTreeMap<String, u32>,
    retries: BTreeMap<String, u32>,
}

impl Counters {
    pub(crate) fn read<F: ReadFleet>(fleet: &F) -> Counters {
        Counters { calls: fleet.calls(), retries: fleet.retries() }
    }
}

/// What a run did, for its summary: who ran it, the invocation, the services it saw and what
/// happened to each.
pub(crate) struct Ran<'a> {
    pub caller: Caller,
    pub inv: &'a Invocation,
    pub services: &'a [ObservedService],
    pub outcomes: Vec<Outcome>,
    pub warnings: Vec<String>,
}

/// The summary of applied outcomes: each service's cost, the totals, and this run's AWS calls
/// and retries since `before`.
pub(crate) async fn summarise<F: ReadFleet>(fleet: &F, config: &Config, ran: Ran<'_>, before: Counters) -> Summary {
    let Ran { caller, inv, services, outcomes, mut warnings } = ran;
    warnings.extend(config.forced_dry_run.clone());
    let costs = price(fleet, services, &outcomes, config, inv.now).await;
    let mut summary = Summary::new(caller, inv, outcomes, warnings);
    summary.add_costs(costs);
    summary.aws_calls = calls_since(&before.calls, fleet.calls());
    summary.aws_retries = calls_since(&before.retries, fleet.retries());
    summary
}

/// What the planning input is completed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A scheduled run, `status`, `explain`: everything the planner asks for.
    Plan,
    /// `wake`: every service it plans carries a keep-alive by then, so their waking coverage never
    /// decides anything and is not read (the waker answers sooner for it).
    Wake,
}

/// Completes what discovery saw with everything the planner asks for, in one step: first the
/// request counts of idle candidates (`plan::requests_needed`), then their waking coverage
/// (`plan::waking_needed`), then the scalable targets the plan depends on
/// (`plan::targets_needed`), and nothing else. `Err` only when the targets cannot be read
/// (nothing was changed); a failed request-count or listener read is a warning (no idle sleep).
pub async fn complete<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    services: &mut [ObservedService],
    config: &Config,
    inv: Invocation,
    warnings: &mut Vec<String>,
    purpose: Purpose,
) -> Result<(), CallError> {
    for (minutes, indexes) in requests_needed(services, config, inv) {
        let (counted, external): (Vec<usize>, Vec<usize>) =
            indexes.into_iter().partition(|i| services[*i].external_deployments.is_none());
        for i in external {
            let s = &services[i];
            warnings.push(format!(
                "{}: its requests are unknown (deployed by {}, which may move its traffic to target groups the \
                 service does not list); not idle-slept",
                s.id,
                s.external_deployments.as_deref().unwrap_or_default()
            ));
        }
        let counted_groups = |s: &ObservedService| -> Vec<String> {
            s.target_groups.iter().chain(&s.alternate_target_groups).cloned().collect()
        };
        let groups: Vec<String> = counted.iter().flat_map(|i| counted_groups(&services[*i])).collect();
        if groups.is_empty() {
            continue;
        }
        // ELB publishes each minute's count a few minutes late: the look-back starts the allowance
        // earlier, so a full idle-after of silence is seen even when the newest minutes are not in yet.
        let since = inv.now - chrono::Duration::minutes(i64::from(minutes + crate::idle::CLOUDWATCH_DELAY_MINUTES));
        match fleet.request_counts(&groups, since, inv.now).await {
            Ok(counts) => {
                for i in counted {
                    let s = &mut services[i];
                    let each: Option<Vec<u64>> = counted_groups(s).iter().map(|t| counts.get(t).copied()).collect();
                    match each {
                        Some(each) => s.requests = Some(each.iter().sum()),
                        None => warnings.push(format!(
                            "{}: its requests are unknown (CloudWatch did not answer completely for its target \
                             groups, or one is not behind an Application Load Balancer); not idle-slept this run",
                            s.id
                        )),
                    }
                }
            }
            Err(e) => warnings.push(format!("could not read request counts, nothing idle-slept this run: {e}")),
        }
    }
    if purpose == Purpose::Plan {
        add_waking(fleet, services, config, inv, warnings).await;
    }
    let need = targets_needed(services, config, inv);
    if need.is_empty() {
        return Ok(());
    }
    let targets = fleet.scalable_targets(&need).await?;
    for s in services.iter_mut() {
        s.scaling = targets.get(&s.id).copied();
    }
    Ok(())
}

/// The waking coverage of the services the planner asks about (`plan::waking_needed`): one
/// read of their listeners' rules. A failed read leaves it unknown: nothing is idle-slept, and
/// nothing is left asleep for a request, this run.
async fn add_waking<F: ReadTraffic>(
    fleet: &F,
    services: &mut [ObservedService],
    config: &Config,
    inv: Invocation,
    warnings: &mut Vec<String>,
) {
    let Some(routing) = config.routing() else { return };
    let need = waking_needed(services, config, inv);
    if need.is_empty() {
        return;
    }
    let mut groups: Vec<String> = need.iter().flat_map(|i| services[*i].target_groups.clone()).collect();
    groups.sort();
    groups.dedup();
    let shared = shared_groups(services);
    match rules_around(fleet, &groups, routing).await {
        Ok(rules) => {
            for i in need {
                services[i].waking = Some(coverage(&services[i], &rules, &shared, routing));
            }
        }
        Err(e) => warnings.push(format!(
            "could not read the listener rules: nothing idle-slept or left asleep for a request this run: {e}"
        )),
    }
}

/// The cost entry of each outcome, in order. Task definitions are asked once each, and only for
/// Fargate services that are asleep or restored: nothing else has a price to report.
async fn price<F: ReadFleet>(
    fleet: &F,
    services: &[ObservedService],
    outcomes: &[Outcome],
    config: &Config,
    now: DateTime<Utc>,
) -> Vec<Option<ServiceCost>> {
    let by_id: BTreeMap<&ServiceId, &ObservedService> = services.iter().map(|s| (&s.id, s)).collect();
    let standings: Vec<(Standing, Option<&ObservedService>)> = outcomes
        .iter()
        .map(|o| {
            let service = by_id.get(&o.entry.id).copied();
            let saved = service.and_then(|s| saved_state(s, config)).and_then(Result::ok);
            (Standing::of(o, saved.as_ref()), service)
        })
        .collect();
    let wanted: Vec<String> = standings
        .iter()
        .filter(|(standing, _)| *standing != Standing::None)
        .filter_map(|(_, s)| s.filter(|s| s.launch == Launch::Fargate)?.task_definition.clone())
        .collect();
    let sizes = if wanted.is_empty() { BTreeMap::new() } else { fleet.task_sizes(&wanted).await };
    standings
        .into_iter()
        .map(|(standing, service)| {
            let hourly = match service {
                Some(s) => task_hourly(s, &sizes, config),
                None => Err("not estimated: service not described".into()),
            };
            service_cost(standing, hourly, now)
        })
        .collect()
}

/// What one task of `s` costs an hour, from the task sizes asked for (a Fargate service whose
/// task definition is not among them is priced without a size, as the price table allows).
pub(crate) fn task_hourly(
    s: &ObservedService,
    sizes: &BTreeMap<String, Result<crate::cost::TaskSize, String>>,
    config: &Config,
) -> Result<f64, String> {
    let size = match s.task_definition.as_ref().and_then(|d| sizes.get(d)) {
        Some(Err(why)) => Err(format!("not estimated: {why}")),
        Some(Ok(size)) => Ok(Some(size)),
        None => Ok(None),
    };
    size.and_then(|size| config.prices.task_hourly(s.launch, size))
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

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
pub(crate) mod idle_tests;

#[cfg(test)]
mod scanner_tests;

#[cfg(test)]
pub(crate) mod environment_tests;

#[cfg(test)]
mod environment_overlap_tests;

#[cfg(test)]
mod environment_week_tests;
