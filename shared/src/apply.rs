//! The executor: applies a plan in PRODUCT.md's step order. A service's failure stops that
//! service only; its report says which steps were done before it failed.
//!
//! ECS tags have no conditional writes, so two runs may act on one service at once (a cron and
//! `reconcile`, a `wake` and a keep-asleep, two `cargo lambda watch`es). The executor closes
//! every such race with two batched reads around the writes:
//! - **before** (`confirm`): each service about to be put (or kept) asleep is read again after
//!   its scalable target was read. A service that now carries `saved` is being put to sleep by
//!   another run; one that lost it was restored meanwhile. Both are left alone. A service that
//!   still carries no `saved` had no transition under way between discovery and this read, so
//!   the counts and bounds about to be saved are the service's own, never a sleeping 0/0.
//! - **after** (`recheck`): every service changed is read again after its last write. One that
//!   looks asleep (desired 0, or its target pinned at 0/0), or a restored one below the count it
//!   was restored to, without `saved`, lost its tag to a run racing this one: the value this run
//!   read or wrote is put back, and the next run finishes the transition from it.
//!
//! Whatever the interleaving, each service ends awake, or asleep carrying its own saved state
//! (property-tested in `run/tests.rs` over thousands of interleavings).

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use crate::fleet::{CallError, ChangeService, Fleet, ReadTraffic, RouteRequests};
use crate::model::{Bounds, Fresh, ServiceId};
use crate::pacing::Limits;
use crate::plan::{Action, Plan, PlanEntry};
use crate::routing::{route_to_waker, Routing};
use crate::saved::looks_asleep;

/// What happened to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub entry: PlanEntry,
    /// The writes done, in order, in words.
    pub steps: Vec<String>,
    pub error: Option<CallError>,
    /// The run's deadline came before this service was started: nothing was done to it.
    pub not_reached: bool,
    /// It failed with a retryable error and was given one more pass at the end of the run.
    pub second_pass: bool,
}

impl Outcome {
    pub(crate) fn new(entry: PlanEntry) -> Outcome {
        Outcome { entry, steps: Vec::new(), error: None, not_reached: false, second_pass: false }
    }

    /// Turns a planned change into a skip that says why.
    fn skip(&mut self, reason: String) {
        self.entry.action = Action::Skip;
        self.entry.reason = reason;
        self.entry.to = self.entry.from.clone();
    }
}

/// Applies every entry, up to `limits.concurrency` services at a time; outcomes come back in plan
/// order. A service is started only before the deadline, and always finished once started. With
/// `routing`, the load balancer rules of services put or kept asleep are routed to the waker.
pub async fn apply<F: Fleet>(
    plan: &Plan,
    fleet: &F,
    saved_key: &str,
    routing: Option<Routing<'_>>,
    limits: &Limits,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = plan.entries.iter().cloned().map(Outcome::new).collect();
    refuse_unsavable(&mut outcomes);
    if plan.invocation.dry_run {
        return outcomes;
    }
    let mut outcomes = apply_pass(outcomes, fleet, saved_key, routing, limits).await;
    second_pass(&mut outcomes, fleet, saved_key, routing, limits).await;
    outcomes
}

/// One pass over `outcomes`: the check before writing, the writes, the check after.
async fn apply_pass<F: Fleet>(
    mut outcomes: Vec<Outcome>,
    fleet: &F,
    saved_key: &str,
    routing: Option<Routing<'_>>,
    limits: &Limits,
) -> Vec<Outcome> {
    confirm(&mut outcomes, fleet, saved_key).await;
    let mut applied: Vec<(usize, Outcome)> = stream::iter(outcomes.into_iter().enumerate())
        .map(|(i, outcome)| async move { (i, apply_entry(outcome, fleet, saved_key, routing, limits).await) })
        .buffer_unordered(limits.concurrency)
        .collect()
        .await;
    applied.sort_by_key(|(i, _)| *i);
    let mut outcomes: Vec<Outcome> = applied.into_iter().map(|(_, o)| o).collect();
    recheck(&mut outcomes, fleet, saved_key, routing).await;
    outcomes
}

/// Services whose change failed with a retryable error (throttled past every SDK retry, a 5xx, a
/// timeout) get one more pass at the end of the run, after a pause that lets the account's token
/// bucket refill, and only when the deadline leaves room for it. Each resumes where it stopped,
/// through the same checks as the first pass: a sleep whose saved state was written goes on as a
/// keep-asleep, so `saved` is never rewritten.
async fn second_pass<F: Fleet>(
    outcomes: &mut [Outcome],
    fleet: &F,
    saved_key: &str,
    routing: Option<Routing<'_>>,
    limits: &Limits,
) {
    let again: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.error.as_ref().is_some_and(|e| e.retryable))
        .map(|(i, _)| i)
        .collect();
    if again.is_empty() {
        return;
    }
    if !limits.room_for(limits.second_pass_pause) {
        tracing::warn!(services = again.len(), "no time left for a second pass; the next run finishes them");
        return;
    }
    tracing::info!(services = again.len(), "second pass for services that failed with a retryable error");
    tokio::time::sleep(limits.second_pass_pause).await;
    let resumed: Vec<Outcome> = again.iter().map(|&i| Outcome::new(resume(&outcomes[i]))).collect();
    let second = apply_pass(resumed, fleet, saved_key, routing, limits).await;
    for (&i, s) in again.iter().zip(second) {
        let o = &mut outcomes[i];
        o.second_pass = true;
        let first_error = o.error.as_ref().map(ToString::to_string).unwrap_or_default();
        o.steps.push(format!("second pass after: {first_error}"));
        if s.not_reached {
            o.steps.push("the deadline came before the second pass reached it".into());
            continue;
        }
        o.steps.extend(s.steps);
        o.error = s.error;
        if s.entry.action == Action::Skip {
            o.skip(s.entry.reason);
        }
    }
}

/// The rest of a failed change: what the second pass applies.
fn resume(o: &Outcome) -> PlanEntry {
    let mut entry = o.entry.clone();
    if let Action::ScaleDown { saved, has_target, .. } = &entry.action {
        // `saved` is its first write: once written, what is left is exactly a keep-asleep.
        if !o.steps.is_empty() {
            let value = saved.to_tag_value().unwrap_or_default();
            entry.action = Action::KeepAsleep { bounds: *has_target, desired: true, saved: value };
        }
    }
    entry
}

/// A planned sleep whose saved state would not read back as meant is refused before any write,
/// in a dry run too: the service must sleep and cannot, so it is `failed` with the reason (the
/// run ends in an error and the alarm fires), never a quiet skip.
fn refuse_unsavable(outcomes: &mut [Outcome]) {
    for o in outcomes.iter_mut() {
        if let Action::ScaleDown { saved, .. } = &o.entry.action {
            if let Err(problem) = saved.to_tag_value() {
                o.error = Some(refused(&o.entry.id, problem));
            }
        }
    }
}

/// The check before writing (see the module comment), for the services about to be put or kept
/// asleep, in one batched read. A service that cannot be confirmed is not written.
async fn confirm<C: ChangeService>(outcomes: &mut [Outcome], changer: &C, saved_key: &str) {
    let ids: Vec<ServiceId> = outcomes
        .iter()
        .filter(|o| matches!(o.entry.action, Action::ScaleDown { .. } | Action::KeepAsleep { .. }))
        .map(|o| o.entry.id.clone())
        .collect();
    if ids.is_empty() {
        return;
    }
    let fresh: BTreeMap<ServiceId, (u32, Option<String>)> = match changer.current(&ids, saved_key).await {
        Ok(rows) => rows.into_iter().map(|f| (f.id, (f.desired, f.tag))).collect(),
        Err(e) => {
            for o in outcomes.iter_mut().filter(|o| ids.contains(&o.entry.id)) {
                o.error = Some(e.clone());
            }
            return;
        }
    };
    for o in outcomes.iter_mut().filter(|o| ids.contains(&o.entry.id)) {
        let Some((desired, tag)) = fresh.get(&o.entry.id) else {
            // ECS lists a deleted service as INACTIVE for a while: one missing from the answer
            // is an answer cut short, not a service gone. Planned and not done is a failure.
            o.error = Some(CallError {
                operation: "ecs:DescribeServices",
                code: Some("NotConfirmed".into()),
                message: format!("{}: missing when read again before writing; nothing was changed", o.entry.id),
                retryable: false,
            });
            continue;
        };
        match (&mut o.entry.action, tag) {
            (Action::ScaleDown { .. }, Some(_)) => {
                o.skip("changed by another run since it was read (it now carries saved state); left to that run".into())
            }
            (Action::ScaleDown { .. }, None) if *desired == 0 => {
                o.skip("desired count is now 0 and nothing was saved: someone chose zero meanwhile; left as is".into())
            }
            (Action::ScaleDown { saved, .. }, None) => {
                // The freshest count: the tag was absent before and after this read, so it is
                // the service's own, not a sleeping zero.
                saved.desired = *desired;
                o.entry.from.desired = *desired;
            }
            (Action::KeepAsleep { .. }, None) => {
                o.skip("changed by another run since it was read (saved state removed: restored); left alone".into())
            }
            // Re-slept since it was read: the value to keep is the one it carries now.
            (Action::KeepAsleep { saved, .. }, Some(now)) => saved.clone_from(now),
            _ => {}
        }
    }
}

/// The check after writing (see the module comment): every service this run changed, read again
/// in batches, with its scalable target where it has one.
async fn recheck<F: Fleet>(outcomes: &mut [Outcome], fleet: &F, saved_key: &str, routing: Option<Routing<'_>>) {
    let changed: Vec<ServiceId> = outcomes
        .iter()
        .filter(|o| o.error.is_none() && !o.steps.is_empty() && write_back_value(&o.entry).is_some())
        .map(|o| o.entry.id.clone())
        .collect();
    if changed.is_empty() {
        return;
    }
    let autoscaled: Vec<ServiceId> = outcomes
        .iter()
        .filter(|o| changed.contains(&o.entry.id) && (o.entry.from.max.is_some() || o.entry.to.max.is_some()))
        .map(|o| o.entry.id.clone())
        .collect();
    let read = async {
        let now = fleet.current(&changed, saved_key).await?;
        let targets = if autoscaled.is_empty() { BTreeMap::new() } else { fleet.scalable_targets(&autoscaled).await? };
        Ok::<_, CallError>((now, targets))
    };
    let (now, targets) = match read.await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-read changed services; the next run checks them");
            return;
        }
    };
    for Fresh { id, desired, tag, .. } in now {
        let Some(o) = outcomes.iter_mut().find(|o| o.entry.id == id) else { continue };
        let Some(saved) = write_back_value(&o.entry) else { continue };
        let target = targets.get(&id);
        let lost = match o.entry.action {
            // A restore meant to end at zero (saved desired 0, or bounds 0/0) ended where it
            // should; any other that fell short was undone by a racing sleep after its reads.
            Action::Restore { .. } => {
                let max = target.map(|b| b.max);
                !looks_asleep(o.entry.to.desired, o.entry.to.max)
                    && (desired < o.entry.to.desired || looks_asleep(desired, max))
            }
            _ => looks_asleep(desired, target.map(|b| b.max)),
        };
        if tag.is_some() || !lost {
            continue;
        }
        match fleet.tag(&id, saved_key, &saved).await {
            Ok(()) => o.steps.push(format!("saved state removed by another run meanwhile; wrote back `{saved}`")),
            Err(e) => {
                o.error = Some(e);
                continue;
            }
        }
        // Asleep again: the racing restore may have taken its waking routing down meanwhile.
        if let Err(e) = route(fleet, &o.entry, routing, &mut o.steps).await.map(drop) {
            o.error = Some(e);
        }
    }
}

/// The saved-state value a changed service must carry if it ends up asleep.
fn write_back_value(entry: &PlanEntry) -> Option<String> {
    match &entry.action {
        Action::KeepAsleep { saved, .. } | Action::Restore { saved, .. } => Some(saved.clone()),
        Action::ScaleDown { saved, .. } => saved.to_tag_value().ok(),
        Action::Skip => None,
    }
    .filter(|v| !v.is_empty())
}

async fn apply_entry<C: ChangeService + RouteRequests + ReadTraffic>(
    mut outcome: Outcome,
    changer: &C,
    saved_key: &str,
    routing: Option<Routing<'_>>,
    limits: &Limits,
) -> Outcome {
    if !outcome.entry.action.writes() || outcome.error.is_some() {
        return outcome;
    }
    if limits.past_deadline() {
        tracing::warn!(service = %outcome.entry.id, "deadline reached before this service; left for the next run");
        outcome.not_reached = true;
        return outcome;
    }
    let entry = &outcome.entry;
    match apply_one(entry, changer, saved_key, routing, limits, &mut outcome.steps).await {
        Ok(Applied::Done) => {}
        Ok(Applied::Abandoned(why)) => {
            tracing::warn!(service = %entry.id, why, "not idle-slept");
            outcome.entry.to = outcome.entry.from.clone();
            outcome.entry.reason = why;
            outcome.entry.action = Action::Skip;
            return outcome;
        }
        Err(e) => outcome.error = Some(e),
    }
    let entry = &outcome.entry;
    match &outcome.error {
        Some(e) => tracing::error!(service = %entry.id, error = %e, done = ?outcome.steps, "service failed"),
        None => tracing::info!(
            service = %entry.id, action = %entry.action.reported(false), from = %entry.from, to = %entry.to, "changed"
        ),
    }
    outcome
}

async fn apply_one<C: ChangeService + RouteRequests + ReadTraffic>(
    entry: &PlanEntry,
    changer: &C,
    saved_key: &str,
    routing: Option<Routing<'_>>,
    limits: &Limits,
    steps: &mut Vec<String>,
) -> Result<Applied, CallError> {
    let id: &ServiceId = &entry.id;
    match &entry.action {
        Action::ScaleDown { saved, has_target, idle } => {
            let value = saved.to_tag_value().map_err(|problem| refused(id, problem))?;
            changer.tag(id, saved_key, &value).await?;
            steps.push(format!("saved `{value}`"));
            let quota = route(changer, entry, routing, steps).await?;
            if let (true, Some(why)) = (*idle, quota) {
                // Idle sleep only for what a request can wake: undo the one write made so far.
                changer.untag(id, saved_key).await?;
                steps.push("removed saved state again".into());
                return Ok(Applied::Abandoned(format!("not idle-slept: no waking page (quota: {why})")));
            }
            if *has_target {
                set_bounds(changer, id, Bounds::ASLEEP, steps).await?;
            }
            set_desired(changer, limits, id, entry.from.desired, 0, steps).await?;
        }
        Action::KeepAsleep { bounds, desired, .. } => {
            route(changer, entry, routing, steps).await?;
            if *bounds {
                set_bounds(changer, id, Bounds::ASLEEP, steps).await?;
            }
            if *desired {
                set_desired(changer, limits, id, entry.from.desired, 0, steps).await?;
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
    Ok(Applied::Done)
}

/// How one entry's writes ended, when no call failed.
enum Applied {
    Done,
    /// Given up before anything but what was undone (an idle sleep whose routing hit a quota).
    Abandoned(String),
}

/// Before the count goes to 0: the load balancer's requests to the waker, not to an empty
/// target group (a 503). What cannot be covered is said in the steps; a quota refusal (nothing
/// changed on the load balancer) comes back too.
async fn route<C: RouteRequests + ReadTraffic>(
    changer: &C,
    entry: &PlanEntry,
    routing: Option<Routing<'_>>,
    steps: &mut Vec<String>,
) -> Result<Option<CallError>, CallError> {
    let Some(r) = routing.filter(|_| !entry.target_groups.is_empty()) else { return Ok(None) };
    let shared = entry.shared_groups.iter().cloned().collect();
    let routed = route_to_waker(changer, &entry.id, &entry.target_groups, &shared, r, steps).await?;
    steps.extend(routed.not_covered());
    Ok(routed.quota)
}

/// A write the executor refuses to make: the value would not read back as what was meant.
fn refused(id: &ServiceId, problem: String) -> CallError {
    CallError::refused("ecs:TagResource", format!("{id}: {problem}"))
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
