//! The `cost-saver:saved` tag: what scale-down changed, so restore can put it back.
//!
//! `desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z`. ECS tag values allow only
//! letters, digits, spaces and `+ - = . _ : / @`, hence this flat key=value form.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{Bounds, Suspension};

/// ECS runs at most this many tasks per service (its "Tasks per service" quota): a saved count
/// above it cannot be the service's own and is unreadable.
pub const MAX_DESIRED: u32 = 5_000;

/// Application Auto Scaling capacities are 32-bit signed integers.
pub const MAX_CAPACITY: u32 = i32::MAX as u32;

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

/// The one rule for "this is what a sleeping service shows": desired 0, or a scalable target
/// pinned at max 0. Used on saved values, fresh reads and planned capacities alike.
pub fn looks_asleep(desired: u32, max: Option<u32>) -> bool {
    desired == 0 || max == Some(0)
}

impl SavedState {
    pub fn parse(value: &str) -> Result<SavedState, SavedError> {
        let fail = |problem: String| SavedError { value: value.to_string(), problem };
        let (mut desired, mut min, mut max, mut suspended, mut at) = (None, None, None, None, None);
        for field in value.split_whitespace() {
            let (key, val) = field.split_once('=').ok_or_else(|| fail(format!("`{field}` is not key=value")))?;
            let slot_taken = match key {
                "desired" => desired.replace(count(val, MAX_DESIRED).map_err(&fail)?).is_some(),
                "min" => min.replace(count(val, MAX_CAPACITY).map_err(&fail)?).is_some(),
                "max" => max.replace(count(val, MAX_CAPACITY).map_err(&fail)?).is_some(),
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

    /// Whether these are the values a sleeping service shows (desired 0, or a target pinned at
    /// max 0): saving them would make every later restore "restore" to sleep.
    pub fn looks_asleep(&self) -> bool {
        looks_asleep(self.desired, self.bounds.map(|b| b.max))
    }

    /// The tag value to write, refused unless it is a state worth restoring and the parser reads
    /// it back as exactly this state (an out-of-range year or count would not).
    pub fn to_tag_value(&self) -> Result<String, String> {
        if self.looks_asleep() {
            return Err(format!("refusing to save sleeping values ({self}): restore would bring back nothing"));
        }
        let value = self.to_string();
        // The tag holds whole seconds: compare with what a read of it can give back.
        let meant = SavedState { at: crate::clock::whole_seconds(self.at), ..*self };
        match SavedState::parse(&value) {
            Ok(back) if back == meant => Ok(value),
            Ok(back) => Err(format!("refusing to save `{value}`: it reads back as `{back}`")),
            Err(e) => Err(format!("refusing to save a value the tool could not read back: {e}")),
        }
    }
}

fn count(val: &str, max: u32) -> Result<u32, String> {
    if val.is_empty() || !val.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{}` is not a whole number of tasks", crate::text::echo(val)));
    }
    match val.parse::<u32>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("`{}` is too large (at most {max})", crate::text::echo(val))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Suspension;

    #[test]
    fn formats_exactly_as_documented_and_round_trips() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T20:00:00Z").unwrap().with_timezone(&Utc);
        let with_target =
            SavedState { desired: 3, bounds: Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE }), at };
        assert_eq!(with_target.to_string(), "desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z");
        let plain = SavedState { desired: 2, bounds: None, at };
        assert_eq!(plain.to_string(), "desired=2 at=2026-11-20T20:00:00Z");
        let partial = SavedState {
            desired: 5,
            bounds: Some(Bounds {
                min: 2,
                max: 10,
                suspended: Suspension { scale_in: true, scale_out: false, scheduled: true },
            }),
            at,
        };
        assert_eq!(partial.to_string(), "desired=5 min=2 max=10 suspended=in+scheduled at=2026-11-20T20:00:00Z");
        for s in [with_target, plain, partial] {
            assert_eq!(SavedState::parse(&s.to_string()).unwrap(), s);
        }
        // Only characters ECS allows in tag values.
        let allowed = |c: char| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c);
        assert!(partial.to_string().chars().all(allowed));
    }

    #[test]
    fn accepts_any_field_order_and_all_suspension_flags() {
        let s = SavedState::parse("at=2026-11-20T20:00:00Z max=4 suspended=in+out+scheduled min=0 desired=0").unwrap();
        assert_eq!(s.desired, 0);
        assert_eq!(s.bounds.unwrap().suspended, Suspension::ALL);
    }

    #[test]
    fn rejects_malformed_values() {
        for (value, needle) in [
            ("", "no `desired`"),
            ("desired=3", "no `at`"),
            ("desired=-1 at=2026-11-20T20:00:00Z", "not a whole number"),
            ("desired=3.5 at=2026-11-20T20:00:00Z", "not a whole number"),
            ("desired=99999999999 at=2026-11-20T20:00:00Z", "too large"),
            ("desired=3 desired=4 at=2026-11-20T20:00:00Z", "twice"),
            ("desired=3 min=1 at=2026-11-20T20:00:00Z", "go together"),
            ("desired=3 min=5 max=4 suspended=none at=2026-11-20T20:00:00Z", "above max"),
            ("desired=3 min=1 max=4 suspended=sideways at=2026-11-20T20:00:00Z", "not `in`"),
            ("desired=3 min=1 max=4 suspended=in+in at=2026-11-20T20:00:00Z", "twice"),
            ("desired=3 at=yesterday", "RFC 3339"),
            ("desired=3 colour=blue at=2026-11-20T20:00:00Z", "unknown field"),
            ("{\"desired\":3}", "key=value"),
        ] {
            let err = SavedState::parse(value).expect_err(value);
            assert!(err.to_string().contains(needle), "{value:?}: {err}");
        }
    }
}
