//! What one member's plan needs to know about the rest of its environment: a keep-alive or a hold
//! on another member keeps it awake, the environment is idle only as a whole, a member without a
//! load balancer waits for a request like the members that have one, and `cost-saver:wake-after`
//! orders the restores. Services in no environment (or alone in one) get no context and are
//! planned exactly as before.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{idle_reason, in_grace, rfc3339, sleeps_until_request, Invocation, Mode};
use crate::config::Config;
use crate::environment::environment_of;
use crate::keep_alive::KeepAliveState;
use crate::model::{ObservedService, SchedulingStrategy};
use crate::tags::{lasts_longer, Scope, TagView};

/// One member's view of its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Context {
    pub name: String,
    /// The longest active keep-alive on another member: that member and its end.
    pub keep_alive: Option<(String, Option<DateTime<Utc>>)>,
    /// Another member that holds the environment awake, in words (protected, `always`, grace).
    pub held_by: Option<String>,
    /// Why the whole environment is idle (`reconcile` only).
    pub idle: Option<String>,
    /// Every load-balanced member sleeps until a request wakes it: the others wait with them.
    pub on_request: bool,
    /// The member this one needs running first (`wake-after`), while it has no running task.
    pub waits_for: Option<String>,
    pub warnings: Vec<String>,
}

/// A context for each service (`None` outside an environment of two or more members). Members
/// are the ACTIVE REPLICA services in scope or protected that share a key.
pub(crate) fn contexts(
    services: &[ObservedService],
    views: &[TagView],
    config: &Config,
    inv: Invocation,
) -> Vec<Option<Context>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in services.iter().enumerate() {
        let member = s.is_active()
            && s.strategy == SchedulingStrategy::Replica
            && matches!(views[i].scope, Scope::Managed | Scope::Protected { .. });
        if let (true, Some(name)) = (member, environment_of(s, config)) {
            groups.entry(name).or_default().push(i);
        }
    }
    let mut out = vec![None; services.len()];
    for (name, members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        let env = Env { name: &name, members: &members, services, views, config, inv };
        let holds: Vec<(usize, String)> = members.iter().filter_map(|&j| Some((j, env.hold_of(j)?))).collect();
        let idle = if holds.is_empty() { env.idle() } else { None };
        let on_request = env.on_request();
        for &i in &members {
            let (waits_for, warnings) = env.waits_for(i);
            out[i] = Some(Context {
                name: name.clone(),
                keep_alive: env.longest_keep_alive(i),
                held_by: holds
                    .iter()
                    .find(|(j, _)| *j != i)
                    .map(|(j, why)| format!("environment {name} held awake by {}: {why}", services[*j].id.name)),
                idle: idle.clone(),
                on_request,
                waits_for,
                warnings,
            });
        }
    }
    out
}

struct Env<'a> {
    name: &'a str,
    members: &'a [usize],
    services: &'a [ObservedService],
    views: &'a [TagView],
    config: &'a Config,
    inv: Invocation,
}

impl Env<'_> {
    fn load_balanced(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().copied().filter(|&j| !self.services[j].target_groups.is_empty())
    }

    /// The longest active keep-alive on a member other than `i`.
    fn longest_keep_alive(&self, i: usize) -> Option<(String, Option<DateTime<Utc>>)> {
        let mut best: Option<(usize, &KeepAliveState)> = None;
        for &j in self.members.iter().filter(|&&j| j != i) {
            let state = &self.views[j].keep_alive;
            if best.is_none_or(|(_, b)| lasts_longer(state, b)) && *state != KeepAliveState::Inactive {
                best = Some((j, state));
            }
        }
        best.map(|(j, state)| match state {
            KeepAliveState::Active { until } => (self.services[j].id.name.clone(), *until),
            KeepAliveState::Inactive => unreachable!("only active keep-alives are kept"),
        })
    }

    /// Why member `j` keeps its whole environment awake, if it does: protected, an `always`
    /// schedule, or a deployment within its grace period.
    fn hold_of(&self, j: usize) -> Option<String> {
        let (s, view) = (&self.services[j], &self.views[j]);
        if let Scope::Protected { value, source } = &view.scope {
            return Some(format!("protected ({}={value} on the {})", self.config.scope_tag_key, source.describe()));
        }
        // `force` ignores schedules, `always` included; keep-alive, protection and grace still hold.
        if view.schedule.is_always() && !self.inv.force {
            return Some("its schedule is `always`".into());
        }
        match in_grace(s, self.config, self.inv.now) {
            Some((d, _)) if view.saved.is_none() && s.desired > 0 => Some(format!(
                "deployed at {}, within the {}-minute grace period",
                rfc3339(d),
                self.config.grace_period_minutes
            )),
            _ => None,
        }
    }

    /// Idle when it has a load-balanced member, no member is kept alive, every awake
    /// load-balanced member is idle by its own rules and every sleeping one waits for a request.
    fn idle(&self) -> Option<String> {
        if self.inv.mode != Mode::Reconcile {
            return None;
        }
        let kept = self.members.iter().any(|&j| self.views[j].keep_alive != KeepAliveState::Inactive);
        let awake = self.members.iter().any(|&j| self.views[j].saved.is_none() && self.services[j].desired > 0);
        let lb: Vec<usize> = self.load_balanced().collect();
        if kept || !awake || lb.is_empty() {
            return None;
        }
        let mut minutes = 0;
        for &j in &lb {
            let (s, view) = (&self.services[j], &self.views[j]);
            let silent = if view.saved.is_some() {
                sleeps_until_request(s, view, self.config)
            } else {
                idle_reason(s, view, self.config, self.inv).is_some()
            };
            if !silent {
                return None;
            }
            minutes = minutes.max(view.idle_after.unwrap_or(0));
        }
        let names: Vec<&str> = lb.iter().map(|&j| self.services[j].id.name.as_str()).collect();
        Some(format!(
            "environment {} idle for {minutes} min: no request through {} (idle-after {minutes}m)",
            self.name,
            names.join(", ")
        ))
    }

    /// Whether every load-balanced member sleeps until a request wakes it.
    fn on_request(&self) -> bool {
        let mut lb = self.load_balanced().peekable();
        lb.peek().is_some()
            && lb.all(|j| {
                let (s, view) = (&self.services[j], &self.views[j]);
                view.saved.is_some() && sleeps_until_request(s, view, self.config)
            })
    }

    /// The member `i` waits for (`wake-after=<name>`) while that one has no running task. A name
    /// that is no member, a cycle, or a member a team keeps at zero is reported and ignored.
    fn waits_for(&self, i: usize) -> (Option<String>, Vec<String>) {
        let key = &self.config.tags.wake_after;
        let after = |j: usize| self.services[j].tags.get(key).map(|v| v.trim().to_string());
        let Some(wanted) = after(i) else { return (None, vec![]) };
        let by_name = |n: &str| self.members.iter().copied().find(|&j| self.services[j].id.name == n);
        let Some(first) = by_name(&wanted) else {
            let why =
                format!("{key}={} names no member of environment {}; ignored", crate::text::echo(&wanted), self.name);
            return (None, vec![why]);
        };
        let mut chain = vec![self.services[i].id.name.clone()];
        let mut at = Some(first);
        while let Some(j) = at {
            chain.push(self.services[j].id.name.clone());
            if j == i {
                return (None, vec![format!("{key} makes a cycle ({}); ignored", chain.join(" -> "))]);
            }
            if chain.len() > self.members.len() + 1 {
                break;
            }
            at = after(j).and_then(|n| by_name(&n));
        }
        let needed = &self.services[first];
        let asleep = self.views[first].saved.is_some();
        if !asleep && needed.desired == 0 {
            let why = format!("{key}={wanted}: {wanted} is kept at zero by its team; not waited for");
            return (None, vec![why]);
        }
        ((needed.running == 0).then_some(wanted), vec![])
    }
}
