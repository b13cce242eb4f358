//! The `cost-saver:keep-alive` tag: `true`, `false`, an RFC 3339 instant, `YYYY-MM-DD` (through the
//! end of that local day) or `YYYY-MM-DDTHH:MM` (local time).

use chrono::{DateTime, Duration, DurationRound, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// `true`: until the tag is removed.
    Forever,
    /// `false`: written by people switching it off without removing the tag.
    Off,
    Until(DateTime<Utc>),
    ThroughDay(NaiveDate),
    UntilLocal(NaiveDateTime),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("keep-alive `{0}` is not `true`, `false`, an RFC 3339 time, YYYY-MM-DD or YYYY-MM-DDTHH:MM")]
pub struct KeepAliveError(pub String);

/// Whether a keep-alive protects the service at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepAliveState {
    Inactive,
    Active { until: Option<DateTime<Utc>> },
}

impl KeepAlive {
    pub fn parse(value: &str) -> Result<KeepAlive, KeepAliveError> {
        let v = value.trim();
        let bad = || KeepAliveError(value.to_string());
        if v.eq_ignore_ascii_case("true") {
            return Ok(KeepAlive::Forever);
        }
        if v.eq_ignore_ascii_case("false") {
            return Ok(KeepAlive::Off);
        }
        if let Ok(instant) = DateTime::parse_from_rfc3339(v) {
            return Ok(KeepAlive::Until(instant.with_timezone(&Utc)));
        }
        if v.len() == 10 {
            return NaiveDate::parse_from_str(v, "%Y-%m-%d").map(KeepAlive::ThroughDay).map_err(|_| bad());
        }
        NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").map(KeepAlive::UntilLocal).map_err(|_| bad())
    }

    /// The instant it ends, read in `zone` for the local forms; `None` for `true` and `false`.
    pub fn expiry(&self, zone: Tz) -> Option<DateTime<Utc>> {
        match *self {
            KeepAlive::Forever | KeepAlive::Off => None,
            KeepAlive::Until(at) => Some(at),
            KeepAlive::ThroughDay(day) => Some(local_to_utc(zone, day.succ_opt()?.and_hms_opt(0, 0, 0)?)),
            KeepAlive::UntilLocal(at) => Some(local_to_utc(zone, at)),
        }
    }

    pub fn state(&self, now: DateTime<Utc>, zone: Tz) -> KeepAliveState {
        match self {
            KeepAlive::Forever => KeepAliveState::Active { until: None },
            KeepAlive::Off => KeepAliveState::Inactive,
            _ => match self.expiry(zone) {
                Some(until) if now < until => KeepAliveState::Active { until: Some(until) },
                _ => KeepAliveState::Inactive,
            },
        }
    }
}

/// A wall-clock time in `zone` as an instant. In a DST gap the time does not exist: take the
/// instant the clocks jump to. In an overlap take the later one, so a keep-alive never ends early.
pub(crate) fn local_to_utc(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are at most a few hours; step forward minute by minute to the first real time.
            let mut probe = local;
            for _ in 0..(6 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

/// Keep-alives are rounded up to this step, so every request in the same ten minutes asks for
/// the same keep-alive and only the first one writes it (`wake` never rewrites one that lasts).
const KEEP_ALIVE_STEP_MINUTES: i64 = 10;

/// `clock + minutes`, rounded up to the next `KEEP_ALIVE_STEP_MINUTES` mark.
pub fn keep_alive_until(clock: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let step = Duration::minutes(KEEP_ALIVE_STEP_MINUTES);
    let wanted = clock + Duration::minutes(minutes.into());
    let down = wanted.duration_trunc(step).unwrap_or(wanted);
    if down == wanted {
        wanted
    } else {
        down + step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin, UTC};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_form_and_its_expiry() {
        let cases: [(&str, Tz, Option<&str>); 6] = [
            ("2026-11-21T02:00:00Z", UTC, Some("2026-11-21T02:00:00Z")),
            ("2026-11-21T03:00:00+01:00", UTC, Some("2026-11-21T02:00:00Z")),
            // The end of that day in the service's zone.
            ("2026-11-21", Berlin, Some("2026-11-21T23:00:00Z")),
            ("2026-11-21", New_York, Some("2026-11-22T05:00:00Z")),
            ("2026-11-21T18:30", Berlin, Some("2026-11-21T17:30:00Z")),
            ("true", Berlin, None),
        ];
        for (value, zone, want) in cases {
            let k = KeepAlive::parse(value).unwrap();
            assert_eq!(k.expiry(zone), want.map(at), "{value} in {zone}");
        }
    }

    #[test]
    fn active_until_it_expires() {
        let k = KeepAlive::parse("2026-11-21T02:00:00Z").unwrap();
        assert_eq!(
            k.state(at("2026-11-21T01:59:59Z"), UTC),
            KeepAliveState::Active { until: Some(at("2026-11-21T02:00:00Z")) }
        );
        assert_eq!(k.state(at("2026-11-21T02:00:00Z"), UTC), KeepAliveState::Inactive);
        assert_eq!(
            KeepAlive::parse("TRUE").unwrap().state(at("2099-01-01T00:00:00Z"), UTC),
            KeepAliveState::Active { until: None }
        );
        assert_eq!(KeepAlive::parse("false").unwrap().state(at("2026-01-01T00:00:00Z"), UTC), KeepAliveState::Inactive);
    }

    #[test]
    fn local_times_in_dst_gap_and_overlap() {
        // 02:30 on 2026-03-29 does not exist in Berlin: the keep-alive runs to 03:00 CEST (01:00Z).
        let gap = KeepAlive::parse("2026-03-29T02:30").unwrap();
        assert_eq!(gap.expiry(Berlin), Some(at("2026-03-29T01:00:00Z")));
        // 02:30 on 2026-10-25 happens twice in Berlin: take the later one (CET, 01:30Z).
        let overlap = KeepAlive::parse("2026-10-25T02:30").unwrap();
        assert_eq!(overlap.expiry(Berlin), Some(at("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn unreadable_values_are_errors() {
        for value in ["yes", "", "2026-13-01", "2026-11-21 18:30", "tomorrow", "2026-11-21T25:00", "1700000000"] {
            assert!(KeepAlive::parse(value).is_err(), "{value:?}");
        }
    }
}
