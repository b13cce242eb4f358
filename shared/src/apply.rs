//! The executor: applies a plan in PRODUCT.md's step order. A service's failure stops that
//! service only; its report says which steps were done before it failed.

use crate::fleet::{CallError, ChangeService};
use crate::model::{Bounds, ServiceId};
use crate::plan::{Action, Plan, PlanEntry};

/// What happened to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub entry: PlanEntry,
    /// The writes done, in order, in words.
    pub steps: Vec<String>,
    pub error: Option<CallError>,
}

pub async fn apply<C: ChangeService>(plan: &Plan, changer: &C, saved_key: &str) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(plan.entries.len());
    for entry in &plan.entries {
        let mut steps = Vec::new();
        let error = if plan.invocation.dry_run || !entry.action.writes() {
            None
        } else {
            apply_one(entry, changer, saved_key, &mut steps).await.err()
        };
        if let Some(e) = &error {
            tracing::error!(service = %entry.id, error = %e, done = ?steps, "service failed");
        } else if entry.action.writes() && !plan.invocation.dry_run {
            tracing::info!(service = %entry.id, action = entry.action.name(false), from = %entry.from, to = %entry.to, "changed");
        }
        outcomes.push(Outcome { entry: entry.clone(), steps, error });
    }
    outcomes
}

async fn apply_one<C: ChangeService>(
    entry: &PlanEntry,
    changer: &C,
    saved_key: &str,
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
            set_desired(changer, id, entry.from.desired, 0, steps).await?;
        }
        Action::KeepAsleep { bounds, desired } => {
            if *bounds {
                set_bounds(changer, id, Bounds::ASLEEP, steps).await?;
            }
            if *desired {
                set_desired(changer, id, entry.from.desired, 0, steps).await?;
            }
        }
        Action::Restore { bounds, desired } => {
            if let Some(b) = bounds {
                set_bounds(changer, id, *b, steps).await?;
            }
            if let Some(n) = desired {
                set_desired(changer, id, entry.from.desired, *n, steps).await?;
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
    id: &ServiceId,
    from: u32,
    to: u32,
    steps: &mut Vec<String>,
) -> Result<(), CallError> {
    changer.set_desired(id, to).await?;
    steps.push(format!("desired {from} -> {to}"));
    Ok(())
}
