//! The executor: applies a plan in PRODUCT.md's step order. A service's failure stops that
//! service only; its report says which steps were done before it failed.

use futures_util::stream::{self, StreamExt};

use crate::fleet::{CallError, ChangeService};
use crate::model::{Bounds, ServiceId};
use crate::pacing::Limits;
use crate::plan::{Action, Plan, PlanEntry};

/// What happened to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub entry: PlanEntry,
    /// The writes done, in order, in words.
    pub steps: Vec<String>,
    pub error: Option<CallError>,
    /// The run's deadline came before this service was started: nothing was done to it.
    pub not_reached: bool,
}

/// Applies every entry, up to `limits.concurrency` services at a time; outcomes come back in plan
/// order. A service is started only before the deadline, and always finished once started.
pub async fn apply<C: ChangeService>(plan: &Plan, changer: &C, saved_key: &str, limits: &Limits) -> Vec<Outcome> {
    let dry_run = plan.invocation.dry_run;
    let mut outcomes: Vec<(usize, Outcome)> = stream::iter(plan.entries.iter().enumerate())
        .map(|(i, entry)| async move { (i, apply_entry(entry, dry_run, changer, saved_key, limits).await) })
        .buffer_unordered(limits.concurrency)
        .collect()
        .await;
    outcomes.sort_by_key(|(i, _)| *i);
    let mut outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    recheck_restores(&mut outcomes, changer, saved_key).await;
    outcomes
}

/// Check after write for restores, the other half of `still_as_read`: a keep-asleep that passed
/// its checks before this run removed `saved` may zero the service afterwards. Restored services
/// are re-read in batches; one at zero without saved state gets back the value this run read.
/// With both halves, every interleaving ends awake, or asleep with its saved state.
async fn recheck_restores<C: ChangeService>(outcomes: &mut [Outcome], changer: &C, saved_key: &str) {
    let restored: Vec<ServiceId> = outcomes
        .iter()
        .filter(|o| o.error.is_none() && !o.steps.is_empty() && matches!(o.entry.action, Action::Restore { .. }))
        .map(|o| o.entry.id.clone())
        .collect();
    if restored.is_empty() {
        return;
    }
    let now = match changer.current(&restored, saved_key).await {
        Ok(now) => now,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-read restored services; the next run checks them");
            return;
        }
    };
    for (id, desired, tag) in now {
        let Some(o) = outcomes.iter_mut().find(|o| o.entry.id == id) else { continue };
        let Action::Restore { saved, .. } = &o.entry.action else { continue };
        if desired == 0 && tag.is_none() && !saved.is_empty() {
            match changer.tag(&id, saved_key, saved).await {
                Ok(()) => o.steps.push(format!("put back to sleep meanwhile by another run; wrote back `{saved}`")),
                Err(e) => o.error = Some(e),
            }
        }
    }
}

async fn apply_entry<C: ChangeService>(
    entry: &PlanEntry,
    dry_run: bool,
    changer: &C,
    saved_key: &str,
    limits: &Limits,
) -> Outcome {
    let mut outcome = Outcome { entry: entry.clone(), steps: Vec::new(), error: None, not_reached: false };
    if dry_run || !entry.action.writes() {
        return outcome;
    }
    if limits.past_deadline() {
        tracing::warn!(service = %entry.id, "deadline reached before this service; left for the next run");
        outcome.not_reached = true;
        return outcome;
    }
    match still_as_read(entry, changer, saved_key).await {
        Ok(true) => {}
        Ok(false) => {
            outcome.entry.action = Action::Skip;
            outcome.entry.reason = "changed by another run since it was read (saved state differs); left alone".into();
            outcome.entry.to = outcome.entry.from.clone();
            return outcome;
        }
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    }
    outcome.error = apply_one(entry, changer, saved_key, limits, &mut outcome.steps).await.err();
    match &outcome.error {
        Some(e) => tracing::error!(service = %entry.id, error = %e, done = ?outcome.steps, "service failed"),
        None => tracing::info!(
            service = %entry.id, action = entry.action.name(false), from = %entry.from, to = %entry.to, "changed"
        ),
    }
    outcome
}

/// Check before write, for the one action a stale read makes dangerous: keeping a service
/// asleep must still find its saved state, else another run restored it meanwhile and zeroing it
/// now would leave it asleep with nothing saved. (`saved` is written first and removed last, so a
/// fresh read tells the truth. A stale scale-down is harmless: any read after another run's first
/// step already shows `saved`, so a racing scale-down carries the same true counts.)
async fn still_as_read<C: ChangeService>(entry: &PlanEntry, changer: &C, saved_key: &str) -> Result<bool, CallError> {
    match entry.action {
        Action::KeepAsleep { .. } => Ok(changer.current_tag(&entry.id, saved_key).await?.is_some()),
        Action::ScaleDown { .. } | Action::Restore { .. } | Action::Skip => Ok(true),
    }
}

async fn apply_one<C: ChangeService>(
    entry: &PlanEntry,
    changer: &C,
    saved_key: &str,
    limits: &Limits,
    steps: &mut Vec<String>,
) -> Result<(), CallError> {
    let id: &ServiceId = &entry.id;
    match &entry.action {
        Action::ScaleDown { saved, has_target } => {
            let value = saved.to_string();
            changer.tag(id, saved_key, &value).await?;
            steps.push(format!("saved `{value}`"));
            if *has_target {
                set_bounds(changer, id, Bounds::ASLEEP, steps).await?;
            }
            set_desired(changer, limits, id, entry.from.desired, 0, steps).await?;
        }
        Action::KeepAsleep { bounds, desired, saved } => {
            if *bounds {
                set_bounds(changer, id, Bounds::ASLEEP, steps).await?;
            }
            if *desired {
                set_desired(changer, limits, id, entry.from.desired, 0, steps).await?;
            }
            // Check after write: a restore that removed `saved` while this zeroed the service
            // would leave it asleep with nothing saved. Put back what was read.
            if changer.current_tag(id, saved_key).await?.is_none() {
                changer.tag(id, saved_key, saved).await?;
                steps.push(format!("saved state removed meanwhile by another run; wrote back `{saved}`"));
            }
        }
        Action::Restore { bounds, desired, .. } => {
            if let Some(b) = bounds {
                set_bounds(changer, id, *b, steps).await?;
            }
            if let Some(n) = desired {
                set_desired(changer, limits, id, entry.from.desired, *n, steps).await?;
            }
            changer.untag(id, saved_key).await?;
            steps.push("removed saved state".into());
        }
        Action::Skip => {}
    }
    Ok(())
}

async fn set_bounds<C: ChangeService>(
    changer: &C,
    id: &ServiceId,
    b: Bounds,
    steps: &mut Vec<String>,
) -> Result<(), CallError> {
    changer.set_bounds(id, b).await?;
    steps.push(format!("scalable target min {} max {} suspended {}", b.min, b.max, b.suspended));
    Ok(())
}

async fn set_desired<C: ChangeService>(
    changer: &C,
    limits: &Limits,
    id: &ServiceId,
    from: u32,
    to: u32,
    steps: &mut Vec<String>,
) -> Result<(), CallError> {
    limits.pace_update_service().await;
    changer.set_desired(id, to).await?;
    steps.push(format!("desired {from} -> {to}"));
    Ok(())
}
