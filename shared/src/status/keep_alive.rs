//! `keep-alive`: the one write the command line makes itself, validated as the planner reads it.

use super::*;

/// A keep-alive to write: until an instant, or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveChange {
    Until(DateTime<Utc>),
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetKeepAliveError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("{0} is protected ({1}): the tool never touches it")]
    Protected(String, String),
    #[error("{0} is not managed by the tool ({1}): a keep-alive would change nothing")]
    NotManaged(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Call(#[from] CallError),
}

/// The longest keep-alive the command writes: a year.
pub const MAX_KEEP_ALIVE_HOURS: u32 = 366 * 24;

/// Writes (or removes) the service's keep-alive tag, by name, and returns its standing after.
pub async fn set_keep_alive<F: ReadFleet + ReadTraffic + ChangeService>(
    fleet: &F,
    config: &Config,
    cluster: &str,
    service: &str,
    change: KeepAliveChange,
    now: DateTime<Utc>,
) -> Result<ServiceStatus, SetKeepAliveError> {
    let s = one(fleet, config, cluster, service, now).await?;
    let name = format!("{cluster}/{service}");
    let view = read_tags(&s, config, now);
    match &view.scope {
        Scope::Protected { .. } | Scope::Untrimmed { .. } => {
            return Err(SetKeepAliveError::Protected(name, describe_scope(&view, config)))
        }
        Scope::OutOfScope if view.saved.is_none() => {
            return Err(SetKeepAliveError::NotManaged(name, describe_scope(&view, config)))
        }
        _ => {}
    }
    let key = &config.tags.keep_alive;
    match change {
        KeepAliveChange::Until(until) => {
            if until <= now {
                return Err(SetKeepAliveError::Invalid(format!(
                    "keep-alive until {} is in the past",
                    until.to_rfc3339()
                )));
            }
            if until > now + Duration::hours(MAX_KEEP_ALIVE_HOURS.into()) {
                return Err(SetKeepAliveError::Invalid(format!(
                    "keep-alive until {} is more than {MAX_KEEP_ALIVE_HOURS} hours away",
                    until.to_rfc3339()
                )));
            }
            let value = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            // The value must read back as the planner reads it.
            if KeepAlive::parse(&value).ok().and_then(|k| k.expiry(view.zone))
                != Some(crate::clock::whole_seconds(until))
            {
                return Err(SetKeepAliveError::Invalid(format!("keep-alive `{value}` would not read back")));
            }
            fleet.tag(&s.id, key, &value).await?;
        }
        KeepAliveChange::Clear => {
            if s.tags.contains_key(key) {
                fleet.untag(&s.id, key).await?;
            }
        }
    }
    let after = one(fleet, config, cluster, service, now).await?;
    let mut rows = rows(fleet, config, std::slice::from_ref(&after), now, Duration::days(8)).await;
    rows.pop().ok_or(SetKeepAliveError::Lookup(LookupError::NotFound(format!("service {name}"))))
}
