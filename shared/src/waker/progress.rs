//! How far a waking environment is, for its page: each member asleep, waiting for another,
//! starting (running of desired tasks) or running, and until when it stays awake. Built from the
//! reads the waker made already (the selected services, and the wake's report), never from a
//! read of its own.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::fleet::Observation;
use crate::keep_alive::KeepAliveState;
use crate::model::{ObservedService, Reported};
use crate::wake::WakeReport;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// The environment's name; `None` for a service in none.
    pub environment: Option<String>,
    pub members: Vec<Member>,
    /// Until when the asked service (and, woken together, every member) stays awake.
    pub until: Option<DateTime<Utc>>,
    /// The keep-awake buttons' token, bound to the service and host like the wake button's.
    pub token: Option<String>,
    /// The longest a keep-awake button may ask for (`MAX_WAKE_HOURS`).
    pub max_hours: u32,
    /// Hours until the end of today in `TIMEZONE` (the page's script counts in the viewer's own).
    pub tonight_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Asleep,
    /// Restored once this member has a running task (`cost-saver:wake-after`).
    WaitingFor(String),
    Starting {
        running: u32,
        desired: u32,
    },
    Running {
        tasks: u32,
    },
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Asleep => f.write_str("asleep"),
            State::WaitingFor(name) => write!(f, "waits for {name}"),
            State::Starting { running, desired } => write!(f, "starting, {running} of {desired} tasks"),
            State::Running { tasks } => write!(f, "running ({tasks} {})", if *tasks == 1 { "task" } else { "tasks" }),
        }
    }
}

impl Progress {
    /// From what the waker selected (the asked service first) and, when it woke them, the report.
    pub fn of(config: &Config, observation: &Observation, report: Option<&WakeReport>, now: DateTime<Utc>) -> Progress {
        let members: Vec<&ObservedService> = observation.services.iter().filter(|s| s.is_active()).collect();
        let environment = members.first().and_then(|s| crate::environment::environment_of(s, config));
        let members = members.into_iter().map(|s| member(config, s, report)).collect();
        let until = report.and_then(|r| DateTime::parse_from_rfc3339(&r.until).ok()).map(|t| t.with_timezone(&Utc));
        // Otherwise the asked service's keep-alive as the planner reads it (its zone, its cluster's).
        let until =
            until.or_else(|| match crate::tags::read_tags(observation.services.first()?, config, now).keep_alive {
                KeepAliveState::Active { until } => until,
                KeepAliveState::Inactive => None,
            });
        Progress {
            environment,
            members,
            until,
            token: None,
            max_hours: config.max_wake_hours,
            tonight_hours: hours_until_midnight(now, config.timezone).min(config.max_wake_hours),
        }
    }
}

/// Whole hours from `now` to the next midnight in `zone`, at least 1.
fn hours_until_midnight(now: DateTime<Utc>, zone: chrono_tz::Tz) -> u32 {
    let local = now.with_timezone(&zone);
    let seconds_into_day = i64::from(chrono::Timelike::num_seconds_from_midnight(&local));
    let left = 24 * 3600 - seconds_into_day;
    u32::try_from((left + 3599) / 3600).unwrap_or(1).max(1)
}

fn member(config: &Config, s: &ObservedService, report: Option<&WakeReport>) -> Member {
    let entry = report.and_then(|r| r.summary.services.iter().find(|e| e.arn == s.id.arn));
    let asleep = super::sleeping(config, s);
    let state = match entry {
        Some(e) if matches!(e.action, Reported::Restored | Reported::WokenByRequest) => {
            State::Starting { running: s.running.min(e.to.desired), desired: e.to.desired }
        }
        _ if asleep => match s.tags.get(&config.tags.wake_after) {
            Some(first) => State::WaitingFor(first.clone()),
            None => State::Asleep,
        },
        _ if s.running < s.desired => State::Starting { running: s.running, desired: s.desired },
        _ => State::Running { tasks: s.running },
    };
    Member { name: s.id.name.clone(), state }
}
