//! What the planner needs to know before it plans, beyond discovery: request counts, waking
//! coverage and scalable targets, each asked only for the services that need it.

use std::collections::{BTreeMap, BTreeSet};

use super::{plan, wakes_on_request, Action, Invocation, Mode};
use crate::config::Config;
use crate::keep_alive::KeepAliveState;
use crate::model::{ObservedService, SchedulingStrategy, ServiceId};
use crate::saved::SavedState;
use crate::tags::{read_tags, saved_state, Scope};

/// The request counts the planner needs before it can plan `inv`: for `reconcile`, the target
/// groups of each idle candidate (managed, awake, load-balanced, with an idle-after, no
/// keep-alive and no `always` schedule), by idle-after window in minutes, as indexes into
/// `services`. Other modes never idle-sleep, so need none.
pub fn requests_needed(services: &[ObservedService], config: &Config, inv: Invocation) -> BTreeMap<u32, Vec<usize>> {
    let mut by_window: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    if inv.mode != Mode::Reconcile {
        return by_window;
    }
    for (i, s) in services.iter().enumerate() {
        if s.target_groups.is_empty() || s.desired == 0 || !s.is_active() {
            continue;
        }
        let view = read_tags(s, config, inv.now);
        let candidate = view.scope == Scope::Managed
            && view.saved.is_none()
            && view.keep_alive == KeepAliveState::Inactive
            && !view.schedule.is_always();
        if let (true, Some(minutes)) = (candidate, view.idle_after) {
            by_window.entry(minutes).or_default().push(i);
        }
    }
    by_window
}

/// The services whose waking coverage (`ObservedService::waking`, from the listener rules) the
/// planner needs, read after the request counts: in `reconcile`, every sleeping service (its
/// routing is repaired when a rule was edited or added while it slept) and the silent idle candidates it
/// may idle-sleep; in `scale-up` and `reconcile`, the sleeping services it would leave asleep for
/// their next request. Either only when a request can really wake them.
pub fn waking_needed(services: &[ObservedService], config: &Config, inv: Invocation) -> Vec<usize> {
    if !inv.mode.restores() || config.routing().is_none() {
        return Vec::new();
    }
    let mut need = Vec::new();
    for (i, s) in services.iter().enumerate().filter(|(_, s)| s.is_active() && !s.target_groups.is_empty()) {
        let view = read_tags(s, config, inv.now);
        if view.scope != Scope::Managed || !view.wake_on_request {
            continue;
        }
        let asleep = view.saved.is_some();
        // Every sleeping service's routing is checked (and repaired) on each reconcile.
        if asleep && inv.mode == Mode::Reconcile {
            need.push(i);
            continue;
        }
        // A keep-alive restores (or keeps awake) whatever the routing.
        let kept_alive = matches!(view.keep_alive, KeepAliveState::Active { .. });
        if !wakes_on_request(s, &view, config) || kept_alive {
            continue;
        }
        if asleep || (inv.mode == Mode::Reconcile && s.requests == Some(0)) {
            need.push(i);
        }
    }
    need
}

/// The scalable targets the planner needs (read after the request counts: an idle sleep is a
/// sleep): services a plan made without targets would put or keep asleep, and sleeping services
/// whose saved state records bounds or cannot be read. Which awake services are autoscaled
/// cannot be known without asking, so a scale-down asks about each service it puts to sleep; a
/// scale-up asks about exactly the autoscaled ones.
pub fn targets_needed(services: &[ObservedService], config: &Config, inv: Invocation) -> Vec<ServiceId> {
    let draft = plan(services, config, inv);
    let to_sleep: BTreeSet<&ServiceId> = draft
        .entries
        .iter()
        .filter(|e| matches!(e.action, Action::ScaleDown { .. } | Action::KeepAsleep { .. }))
        .map(|e| &e.id)
        .collect();
    services
        .iter()
        .filter(|s| s.is_active() && s.strategy == SchedulingStrategy::Replica)
        .filter(|s| {
            to_sleep.contains(&s.id)
                || matches!(saved_state(s, config), Some(Err(_)) | Some(Ok(SavedState { bounds: Some(_), .. })))
        })
        .map(|s| s.id.clone())
        .collect()
}
