//! Many accounts: one invocation over every target `TARGETS` names, each a run of its own (its
//! own clients, pacing bucket and retries, the whole deadline: they run side by side), merged
//! into one summary with the account and region on every entry and a roll-up per target.
//! A target that cannot be reached is reported and never stops the others.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::Config;
use crate::fleet::Fleet;
use crate::plan::Invocation;
use crate::run::run;
use crate::summary::{Caller, Summary, TargetReport};
use crate::targets::Target;
use crate::wake::{wake, KeptAlive, WakeError, WakeReport, WakeRequest};

/// One target, and its fleet or why it cannot be worked on (its role cannot be assumed, its
/// organizational unit or regions cannot be listed).
pub struct Reached<F> {
    pub target: Target,
    pub fleet: Result<F, String>,
    /// The hub's own account and region: the only target whose load balancers can route to its
    /// waker (a Lambda target must be in the load balancer's account and region).
    pub home: bool,
}

impl<F> Reached<F> {
    pub fn new(target: Target, fleet: Result<F, String>) -> Reached<F> {
        Reached { target, fleet, home: false }
    }
}

/// The configuration a target is worked on with: elsewhere than home, no waking routing.
fn config_for<'a>(home: bool, config: &'a Config, elsewhere: &'a Config) -> &'a Config {
    if home {
        config
    } else {
        elsewhere
    }
}

fn away(config: &Config) -> Config {
    Config { waker_function_arn: None, ..config.clone() }
}

/// Targets worked on at once: each run holds up to its read and write concurrency of connections
/// (8 + `WRITE_CONCURRENCY`), and a Lambda process has 1,024 file descriptors. Beyond this, a
/// target starts when another ends, against the same deadline (what it does not reach is
/// `not_reached`, for the retry and `reconcile`).
pub const TARGETS_AT_ONCE: usize = 20;

/// `scale-down`, `scale-up` or `reconcile` on every reached target at once (`TARGETS_AT_ONCE`).
pub async fn run_targets<F: Fleet>(
    reached: &[Reached<F>],
    config: &Config,
    inv: Invocation,
    deadline: Option<Instant>,
) -> Summary {
    let elsewhere = &away(config);
    let permits = &tokio::sync::Semaphore::new(TARGETS_AT_ONCE);
    let runs = reached.iter().map(|r| async move {
        let config = config_for(r.home, config, elsewhere);
        let _turn = permits.acquire().await;
        match &r.fleet {
            Ok(fleet) => run(fleet, config, inv, deadline).await.map_err(|e| format!("discovery failed: {e}")),
            Err(why) => Err(why.clone()),
        }
    });
    let results = futures_util::future::join_all(runs).await;
    merge(Caller::Run(inv.mode), &inv, reached.iter().map(|r| r.target.clone()).zip(results).collect())
}

/// One summary of the targets' own: every entry with its account and region, counts and calls
/// added up, warnings and routing notes prefixed with their target, the savings totalled anew.
pub fn merge(caller: Caller, inv: &Invocation, parts: Vec<(Target, Result<Summary, String>)>) -> Summary {
    let mut merged = Summary::new(caller, inv, Vec::new(), Vec::new());
    for (target, part) in parts {
        merged.targets.push(TargetReport::of(&target, part.as_ref()));
        let Ok(part) = part else { continue };
        add(&mut merged.counts, part.counts);
        add(&mut merged.aws_calls, part.aws_calls);
        add(&mut merged.aws_retries, part.aws_retries);
        merged.second_passes += part.second_passes;
        merged.warnings.extend(part.warnings.into_iter().map(|w| format!("{target}: {w}")));
        merged.routing.extend(part.routing.into_iter().map(|w| format!("{target}: {w}")));
        merged.services.extend(part.services.into_iter().map(|mut s| {
            s.account = Some(target.account.clone());
            s.region = Some(target.region.clone());
            s
        }));
    }
    // The same warning from each target (a forced dry run) is said once.
    merged.warnings.dedup();
    merged.total_costs();
    merged
}

fn add<K: Ord>(into: &mut BTreeMap<K, u32>, from: BTreeMap<K, u32>) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

/// Each target's share of a merged summary, in `summary.targets` order: its services, counts,
/// savings and retries (for its own metrics).
pub fn per_target(summary: &Summary) -> Vec<Summary> {
    summary
        .targets
        .iter()
        .map(|t| {
            let here = |s: &&crate::summary::ServiceReport| {
                s.account.as_deref() == Some(t.account.as_str()) && s.region.as_deref() == Some(t.region.as_str())
            };
            let mut part = summary.header();
            part.services = summary.services.iter().filter(here).cloned().collect();
            part.counts = t.counts.clone();
            part.aws_retries = BTreeMap::from([("all".to_string(), t.aws_retries)]);
            part.targets = vec![t.clone()];
            part.total_costs();
            part
        })
        .collect()
}

/// Lambda refuses a response above 6 MB, and the invocation would then fail after its work was
/// done (retried, alarmed): an answer above this keeps only its failed and unreached entries
/// (`services_omitted` says how many are left out; every entry is in the log, a line a target).
pub const MAX_ANSWER_BYTES: usize = 5_000_000;

/// `summary` as an invocation may answer it: whole, or without its entries that need no
/// attention when it would be larger than `limit` bytes.
pub fn within_answer_limit(mut summary: Summary, limit: usize) -> Summary {
    let size = serde_json::to_vec(&summary).map_or(0, |v| v.len());
    if size <= limit {
        return summary;
    }
    let before = summary.services.len();
    summary.services.retain(|s| s.action.is_failure());
    summary.services_omitted += (before - summary.services.len()) as u32;
    summary
}

/// The targets that could not be worked on, for the invocation's error.
pub fn failed_targets(summary: &Summary) -> Vec<String> {
    summary
        .targets
        .iter()
        .filter_map(|t| Some(format!("{}:{}: {}", t.account, t.region, t.error.as_deref()?)))
        .collect()
}

/// `wake` on every reached target at once. A target where nothing matched is left out of the
/// answer; when nothing matched anywhere the error is the targets' own (not found, not managed).
/// A target that refuses (protected) or fails is reported and fails the invocation, the others'
/// wakes stand.
pub async fn wake_targets<F: Fleet>(
    reached: &[Reached<F>],
    config: &Config,
    request: &WakeRequest,
    deadline: Option<Instant>,
) -> Result<WakeReport, WakeError> {
    let elsewhere = &away(config);
    let permits = &tokio::sync::Semaphore::new(TARGETS_AT_ONCE);
    let wakes = reached.iter().map(|r| async move {
        let config = config_for(r.home, config, elsewhere);
        let _turn = permits.acquire().await;
        match &r.fleet {
            Ok(fleet) => wake(fleet, config, request, deadline).await.map_err(Err),
            Err(why) => Err(Ok(why.clone())),
        }
    });
    let results = futures_util::future::join_all(wakes).await;
    let mut parts = Vec::new();
    let mut kept_alive: Vec<KeptAlive> = Vec::new();
    let mut misses: Vec<WakeError> = Vec::new();
    let mut protected: Vec<String> = Vec::new();
    let mut refusing = 0;
    let mut until = None;
    for (r, result) in reached.iter().zip(results) {
        let part = match result {
            Ok(report) => {
                until = Some(report.until.clone());
                kept_alive.extend(report.kept_alive.into_iter().map(|mut k| {
                    k.account = Some(r.target.account.clone());
                    k.region = Some(r.target.region.clone());
                    k
                }));
                Ok(report.summary)
            }
            Err(Err(e @ (WakeError::NotFound(_) | WakeError::NotManaged(_)))) => {
                misses.push(e);
                continue;
            }
            Err(Err(WakeError::Protected(names))) => {
                protected.extend(names.iter().map(|n| format!("{}: {n}", r.target)));
                refusing += 1;
                Err(WakeError::Protected(names).to_string())
            }
            Err(Err(e)) => Err(e.to_string()),
            Err(Ok(unreachable)) => Err(unreachable),
        };
        parts.push((r.target.clone(), part));
    }
    // Refused wherever it was found: the same refusal as on one account.
    if refusing > 0 && refusing == parts.len() {
        return Err(WakeError::Protected(protected));
    }
    if parts.is_empty() {
        // Nothing anywhere: "not managed" says more than "not found" when some target had it.
        let managed_miss = misses.iter().position(|e| matches!(e, WakeError::NotManaged(_)));
        return Err(match managed_miss.or((!misses.is_empty()).then_some(0)) {
            Some(i) => misses.swap_remove(i),
            None => WakeError::NotFound(vec!["no target matched the account and region asked for".into()]),
        });
    }
    let inv = Invocation { mode: crate::plan::Mode::ScaleUp, now: request.now, dry_run: request.dry_run, force: false };
    let summary = merge(Caller::Wake, &inv, parts);
    Ok(WakeReport { until: until.unwrap_or_else(|| crate::plan::rfc3339(request.until)), kept_alive, summary })
}

#[cfg(test)]
mod tests;
