//! Reads the tag contract off one service and its cluster: scope, protection, keep-alive,
//! effective schedule and saved state, each with what the summary should say about it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::Config;
use crate::keep_alive::{KeepAlive, KeepAliveState};
use crate::model::{ObservedService, Tags};
use crate::saved::{SavedError, SavedState};
use crate::schedule::Schedule;

/// Where a tag was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Service,
    Cluster,
    Default,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Service => "service",
            Source::Cluster => "cluster",
            Source::Default => "default",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The scope tag (service or cluster) has an in-scope value.
    Managed,
    /// The scope tag (service or cluster) has a protected value: never scaled down.
    Protected {
        value: String,
        source: Source,
    },
    OutOfScope,
    /// The scope tag's value is a scope or protected value only once the spaces around it are
    /// trimmed (` prod`). IAM compares exactly, so the tool would disagree with its own guard:
    /// such a service is never changed, and every run says why.
    Untrimmed {
        value: String,
        source: Source,
    },
}

/// Everything the planner needs to know about one service's tags.
#[derive(Debug, Clone)]
pub struct TagView {
    pub scope: Scope,
    pub schedule: Schedule,
    pub schedule_source: Source,
    pub zone: Tz,
    pub keep_alive: KeepAliveState,
    pub keep_alive_source: Option<Source>,
    pub saved: Option<Result<SavedState, SavedError>>,
    /// Minutes without a request before it is idle (service tag, cluster tag, `IDLE_AFTER`).
    pub idle_after: Option<u32>,
    /// Its load balancer rules may be routed to the waker while it sleeps (unless a service or
    /// cluster tag says `false`).
    pub wake_on_request: bool,
    pub warnings: Vec<String>,
}

pub fn read_tags(service: &ObservedService, config: &Config, now: DateTime<Utc>) -> TagView {
    let mut warnings = Vec::new();
    let scope = scope_of(service, config);
    let (schedule, schedule_source) = effective_schedule(service, config, &mut warnings);
    let zone = schedule.zone_or(config.timezone);
    let (keep_alive, keep_alive_source) = keep_alive_of(service, config, now, zone, &mut warnings);
    let saved = saved_state(service, config);
    if let Some(Err(e)) = &saved {
        warnings.push(format!("unreadable {} tag: {e}", config.tags.saved));
    }
    let wake_on_request = wake_on_request_of(service, config, &mut warnings);
    let idle_after = if wake_on_request { idle_after_of(service, config, &mut warnings) } else { None };
    TagView {
        scope,
        schedule,
        schedule_source,
        zone,
        keep_alive,
        keep_alive_source,
        saved,
        idle_after,
        wake_on_request,
        warnings,
    }
}

/// `cost-saver:wake-on-request=false` on the service (or else its cluster) opts out of the waking
/// routing, and so of sleeping when idle. Anything but `true`/`false` is reported and read as
/// `false`: routing someone's load balancer is never done on a value nobody can read.
fn wake_on_request_of(service: &ObservedService, config: &Config, warnings: &mut Vec<String>) -> bool {
    let key = &config.tags.wake_on_request;
    let Some(value) = service.tags.get(key).or_else(|| service.cluster_tags.get(key)) else { return true };
    wake_on_request_value(value).unwrap_or_else(|| {
        warnings.push(format!("unreadable {key} tag, treated as `false`: expected `true` or `false`"));
        false
    })
}

/// A `cost-saver:wake-on-request` value (on a service, cluster or listener): `true`/`false` in
/// any case, `None` for anything else (which every reader treats as `false`).
pub fn wake_on_request_value(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Service tag beats cluster tag beats `IDLE_AFTER`. Unreadable counts as off (never sleep a
/// service on a value nobody can read) and is reported.
fn idle_after_of(service: &ObservedService, config: &Config, warnings: &mut Vec<String>) -> Option<u32> {
    let key = &config.tags.idle_after;
    for (source, tags) in [(Source::Service, &service.tags), (Source::Cluster, &service.cluster_tags)] {
        if let Some(value) = tags.get(key) {
            return match crate::idle::parse_idle_after(value) {
                Ok(minutes) => minutes,
                Err(e) => {
                    warnings.push(format!("unreadable {key} tag on the {}, treated as `off`: {e}", source.describe()));
                    None
                }
            };
        }
    }
    config.idle_after_minutes
}

/// The service's saved state, parsed, if it carries the tag: all a caller needs when it does not
/// plan (the rest of `read_tags` parses schedules and keep-alives).
pub fn saved_state(service: &ObservedService, config: &Config) -> Option<Result<SavedState, SavedError>> {
    service.tags.get(&config.tags.saved).map(|v| SavedState::parse(v))
}

pub(crate) fn scope_of(service: &ObservedService, config: &Config) -> Scope {
    let key = &config.scope_tag_key;
    let sources = [(Source::Service, &service.tags), (Source::Cluster, &service.cluster_tags)];
    for (source, tags) in sources {
        if let Some(v) = tags.get(key).filter(|v| v.trim() != v.as_str()) {
            if config.is_protected_value(v) || config.is_scope_value(v) {
                return Scope::Untrimmed { value: v.clone(), source };
            }
        }
    }
    let value = |tags: &Tags| tags.get(key).map(|v| v.trim().to_string());
    for (source, tags) in sources {
        if let Some(v) = value(tags).filter(|v| config.is_protected_value(v)) {
            return Scope::Protected { value: v, source };
        }
    }
    if sources.iter().any(|(_, tags)| value(tags).is_some_and(|v| config.is_scope_value(&v))) {
        Scope::Managed
    } else {
        Scope::OutOfScope
    }
}

fn effective_schedule(service: &ObservedService, config: &Config, warnings: &mut Vec<String>) -> (Schedule, Source) {
    let key = &config.tags.schedule;
    for (source, tags) in [(Source::Service, &service.tags), (Source::Cluster, &service.cluster_tags)] {
        if let Some(value) = tags.get(key) {
            match Schedule::parse(value) {
                Ok(schedule) => return (schedule, source),
                Err(e) => {
                    // Fail safe: an unreadable schedule never puts a service to sleep.
                    warnings
                        .push(format!("unreadable {key} tag on the {}, treated as `always`: {e}", source.describe()));
                    return (Schedule::parse("always").expect("`always` parses"), source);
                }
            }
        }
    }
    (config.default_schedule.clone(), Source::Default)
}

fn keep_alive_of(
    service: &ObservedService,
    config: &Config,
    now: DateTime<Utc>,
    zone: Tz,
    warnings: &mut Vec<String>,
) -> (KeepAliveState, Option<Source>) {
    let key = &config.tags.keep_alive;
    let mut best: (KeepAliveState, Option<Source>) = (KeepAliveState::Inactive, None);
    for (source, tags) in [(Source::Service, &service.tags), (Source::Cluster, &service.cluster_tags)] {
        let Some(value) = tags.get(key) else { continue };
        let state = match KeepAlive::parse(value) {
            Ok(keep_alive) => keep_alive.state(now, zone),
            Err(e) => {
                // Fail safe: never sleep a service someone tried to protect.
                warnings.push(format!("{e} (on the {}); treated as active", source.describe()));
                KeepAliveState::Active { until: None }
            }
        };
        if lasts_longer(&state, &best.0) {
            best = (state, Some(source));
        }
    }
    best
}

pub(crate) fn lasts_longer(a: &KeepAliveState, b: &KeepAliveState) -> bool {
    match (a, b) {
        (KeepAliveState::Inactive, _) => false,
        (_, KeepAliveState::Inactive) => true,
        (KeepAliveState::Active { until: None }, KeepAliveState::Active { until: Some(_) }) => true,
        (KeepAliveState::Active { until: Some(x) }, KeepAliveState::Active { until: Some(y) }) => x > y,
        _ => false,
    }
}
