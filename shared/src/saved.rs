//! The `cost-saver:saved` tag: what scale-down changed, so restore can put it back.
//!
//! `desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z`. ECS tag values allow only
//! letters, digits, spaces and `+ - = . _ : / @`, hence this flat key=value form.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{Bounds, Suspension};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedState {
    pub desired: u32,
    /// Present when the service had an Application Auto Scaling target.
    pub bounds: Option<Bounds>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("saved state `{value}`: {problem}")]
pub struct SavedError {
    pub value: String,
    pub problem: String,
}

impl SavedState {
    pub fn parse(value: &str) -> Result<SavedState, SavedError> {
        let fail = |problem: String| SavedError { value: value.to_string(), problem };
        let (mut desired, mut min, mut max, mut suspended, mut at) = (None, None, None, None, None);
        for field in value.split_whitespace() {
            let (key, val) = field.split_once('=').ok_or_else(|| fail(format!("`{field}` is not key=value")))?;
            let slot_taken = match key {
                "desired" => desired.replace(count(val).map_err(&fail)?).is_some(),
                "min" => min.replace(count(val).map_err(&fail)?).is_some(),
                "max" => max.replace(count(val).map_err(&fail)?).is_some(),
                "suspended" => suspended.replace(Suspension::parse(val).map_err(&fail)?).is_some(),
                "at" => at
                    .replace(
                        DateTime::parse_from_rfc3339(val)
                            .map_err(|_| fail(format!("at=`{val}` is not an RFC 3339 time")))?
                            .with_timezone(&Utc),
                    )
                    .is_some(),
                _ => return Err(fail(format!("unknown field `{key}`"))),
            };
            if slot_taken {
                return Err(fail(format!("`{key}` appears twice")));
            }
        }
        let desired = desired.ok_or_else(|| fail("no `desired`".into()))?;
        let at = at.ok_or_else(|| fail("no `at`".into()))?;
        let bounds = match (min, max, suspended) {
            (None, None, None) => None,
            (Some(min), Some(max), Some(suspended)) if min <= max => Some(Bounds { min, max, suspended }),
            (Some(min), Some(max), Some(_)) => return Err(fail(format!("min {min} is above max {max}"))),
            _ => return Err(fail("`min`, `max` and `suspended` go together".into())),
        };
        Ok(SavedState { desired, bounds, at })
    }
}

fn count(val: &str) -> Result<u32, String> {
    if val.is_empty() || !val.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{val}` is not a whole number of tasks"));
    }
    val.parse().map_err(|_| format!("`{val}` is too large"))
}

impl fmt::Display for SavedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "desired={}", self.desired)?;
        if let Some(b) = &self.bounds {
            write!(f, " min={} max={} suspended={}", b.min, b.max, b.suspended)?;
        }
        write!(f, " at={}", self.at.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}
