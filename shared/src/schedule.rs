//! The `cost-saver:schedule` grammar and its evaluation at an instant.
//!
//! `[DAYS] HH:MM-HH:MM` windows separated by spaces, then an optional IANA zone; or `always` /
//! `never`. Evaluation converts the instant to the schedule's wall-clock time, so DST is handled by
//! the zone database rather than by arithmetic on offsets.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule `{input}`: {problem}")]
pub struct ScheduleError {
    pub input: String,
    pub problem: String,
}

/// A set of weekdays as a bit mask, Monday = bit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Days(u8);

impl Days {
    pub const EVERY_DAY: Days = Days(0b111_1111);

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    fn with(self, day: Weekday) -> Days {
        Days(self.0 | (1 << day.num_days_from_monday()))
    }
}

/// Awake from `start` to `end` (minutes after local midnight) on each of `days`; an `end` at or
/// before `start` runs past midnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub days: Days,
    pub start: u16,
    pub end: u16,
}

impl Window {
    fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    fn covers(&self, day: Weekday, minute: u16) -> bool {
        if self.crosses_midnight() {
            (self.days.contains(day) && minute >= self.start) || (self.days.contains(day.pred()) && minute < self.end)
        } else {
            self.days.contains(day) && minute >= self.start && minute < self.end
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    Always,
    Never,
    Windows(Vec<Window>),
}

/// A parsed schedule: awake hours plus the zone they are read in (`None`: the configured default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub hours: Hours,
    pub zone: Option<Tz>,
    source: String,
}

/// What a schedule says about one instant, with the wall-clock facts behind it for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub awake: bool,
    pub why: String,
}

impl Schedule {
    pub fn parse(input: &str) -> Result<Schedule, ScheduleError> {
        let fail = |problem: String| ScheduleError { input: input.to_string(), problem };
        let tokens: Vec<&str> = input.split_whitespace().collect();
        if tokens.is_empty() {
            return Err(fail("is empty".into()));
        }
        let keyword = tokens[0].to_ascii_lowercase();
        if keyword == "always" || keyword == "never" {
            let zone = match tokens.len() {
                1 => None,
                2 => Some(parse_zone(tokens[1]).map_err(fail)?),
                _ => return Err(fail(format!("unexpected `{}` after `{}`", tokens[2], tokens[0]))),
            };
            let hours = if keyword == "always" { Hours::Always } else { Hours::Never };
            return Ok(Schedule { hours, zone, source: input.trim().to_string() });
        }

        let mut windows = Vec::new();
        let mut pending_days: Option<(Days, &str)> = None;
        let mut zone = None;
        for (i, token) in tokens.iter().enumerate() {
            if looks_like_time_range(token) {
                let (start, end) = parse_time_range(token).map_err(fail)?;
                let days = pending_days.take().map(|(d, _)| d).unwrap_or(Days::EVERY_DAY);
                windows.push(Window { days, start, end });
            } else if let Some(days) = parse_days(token).map_err(fail)? {
                if let Some((_, previous)) = pending_days {
                    return Err(fail(format!(
                        "`{previous}` is not followed by a time range (join days with `+`, e.g. `Mon+Wed`)"
                    )));
                }
                pending_days = Some((days, token));
            } else if i == tokens.len() - 1 && !windows.is_empty() && pending_days.is_none() {
                zone = Some(parse_zone(token).map_err(fail)?);
            } else {
                return Err(fail(format!(
                    "`{token}` is neither days (e.g. `Mon-Fri`), a time range (e.g. `08:00-20:00`) nor a time zone at the end"
                )));
            }
        }
        if let Some((_, days)) = pending_days {
            return Err(fail(format!("`{days}` is not followed by a time range")));
        }
        if windows.is_empty() {
            return Err(fail("has no time range such as `08:00-20:00`".into()));
        }
        Ok(Schedule { hours: Hours::Windows(windows), zone, source: input.trim().to_string() })
    }

    /// The zone this schedule is read in.
    pub fn zone_or(&self, default: Tz) -> Tz {
        self.zone.unwrap_or(default)
    }

    /// Whether the schedule says awake at `now`; holidays are whole local days asleep, except for
    /// `always`, which means what it says.
    /// `always`: awake whatever the time, and never idle.
    pub fn is_always(&self) -> bool {
        matches!(self.hours, Hours::Always)
    }

    pub fn verdict(&self, now: DateTime<Utc>, default_zone: Tz, holidays: &[NaiveDate]) -> Verdict {
        let zone = self.zone_or(default_zone);
        let local = now.with_timezone(&zone);
        let stamp = format!("{} {}", local.format("%a %Y-%m-%d %H:%M"), zone.name());
        let windows = match &self.hours {
            Hours::Always => return Verdict { awake: true, why: format!("schedule `{self}` (always awake)") },
            Hours::Never => return Verdict { awake: false, why: format!("schedule `{self}` (never awake)") },
            Hours::Windows(windows) => windows,
        };
        if holidays.contains(&local.date_naive()) {
            return Verdict { awake: false, why: format!("holiday ({stamp})") };
        }
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let awake = windows.iter().any(|w| w.covers(local.weekday(), minute));
        let state = if awake { "awake" } else { "asleep" };
        Verdict { awake, why: format!("schedule `{self}` says {state} at {stamp}") }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

pub(crate) fn parse_zone(token: &str) -> Result<Tz, String> {
    token.parse::<Tz>().map_err(|_| format!("`{token}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)"))
}

fn looks_like_time_range(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit())
}

fn parse_time_range(token: &str) -> Result<(u16, u16), String> {
    let (start, end) =
        token.split_once('-').ok_or_else(|| format!("`{token}` is not a time range like `08:00-20:00`"))?;
    let start = parse_clock(start, false).map_err(|e| format!("`{token}`: {e}"))?;
    let end = parse_clock(end, true).map_err(|e| format!("`{token}`: {e}"))?;
    if start == end {
        return Err(format!("`{token}` starts and ends at the same time (use `always` or `00:00-24:00`)"));
    }
    Ok((start, end))
}

/// Minutes after midnight of a 24-hour `HH:MM`; `24:00` only as an end.
fn parse_clock(text: &str, is_end: bool) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a 24-hour time HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, max_len| !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h, 2) || m.len() != 2 || !digits(m, 2) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if is_end => Ok(1440),
        (24, 0) => Err("`24:00` is only allowed as the end of a window".into()),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// `Mon`, `Mon-Fri`, `Fri-Mon`, `Mon+Wed+Fri-Sun`; `Ok(None)` when the token is not a day spec.
fn parse_days(token: &str) -> Result<Option<Days>, String> {
    // Characters, not bytes: a tag may hold any Unicode, and slicing bytes could split one.
    let prefix: String = token.chars().take(3).collect();
    if !token.starts_with(|c: char| c.is_ascii_alphabetic()) || parse_day(&prefix).is_none() {
        return Ok(None);
    }
    let mut days = Days(0);
    for part in token.split('+') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day_or_err(from, token)?, day_or_err(to, token)?);
                let mut day = from;
                loop {
                    days = days.with(day);
                    if day == to {
                        break;
                    }
                    day = day.succ();
                }
            }
            None => days = days.with(day_or_err(part, token)?),
        }
    }
    Ok(Some(days))
}

fn day_or_err(name: &str, token: &str) -> Result<Weekday, String> {
    parse_day(name).ok_or_else(|| format!("`{name}` in `{token}` is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

fn parse_day(name: &str) -> Option<Weekday> {
    match name.to_ascii_lowercase().as_str() {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn awake(schedule: &str, instant: &str) -> bool {
        Schedule::parse(schedule).unwrap().verdict(at(instant), Tz::UTC, &[]).awake
    }

    #[test]
    fn default_office_hours() {
        let s = "Mon-Fri 08:00-20:00";
        // 2026-11-20 is a Friday.
        for (instant, want) in [
            ("2026-11-20T07:59:00Z", false),
            ("2026-11-20T08:00:00Z", true),
            ("2026-11-20T19:59:59Z", true),
            ("2026-11-20T20:00:00Z", false),
            ("2026-11-21T12:00:00Z", false), // Saturday
            ("2026-11-22T12:00:00Z", false), // Sunday
            ("2026-11-23T08:30:00Z", true),  // Monday
        ] {
            assert_eq!(awake(s, instant), want, "{s} at {instant}");
        }
    }

    #[test]
    fn several_windows_and_day_lists() {
        let s = "Mon-Fri 07:30-19:00 Sat 10:00-14:00";
        assert!(awake(s, "2026-11-21T10:00:00Z"));
        assert!(!awake(s, "2026-11-21T14:00:00Z"));
        assert!(awake(s, "2026-11-20T07:30:00Z"));
        assert!(!awake(s, "2026-11-22T11:00:00Z"));
        let s = "Mon+Wed+Fri 09:00-17:00";
        assert!(awake(s, "2026-11-18T09:00:00Z")); // Wednesday
        assert!(!awake(s, "2026-11-19T09:00:00Z")); // Thursday
        let s = "MON-FRI 09:00-17:00"; // EventBridge cron spelling
        assert!(awake(s, "2026-11-19T09:00:00Z"));
    }

    #[test]
    fn wrapping_day_range() {
        let s = "Fri-Mon 10:00-12:00";
        for (instant, want) in [
            ("2026-11-20T11:00:00Z", true),  // Fri
            ("2026-11-21T11:00:00Z", true),  // Sat
            ("2026-11-22T11:00:00Z", true),  // Sun
            ("2026-11-23T11:00:00Z", true),  // Mon
            ("2026-11-24T11:00:00Z", false), // Tue
            ("2026-11-19T11:00:00Z", false), // Thu
        ] {
            assert_eq!(awake(s, instant), want, "{s} at {instant}");
        }
    }

    #[test]
    fn window_crossing_midnight_belongs_to_the_day_it_starts() {
        let s = "Fri 22:00-06:00";
        assert!(!awake(s, "2026-11-20T21:59:00Z"));
        assert!(awake(s, "2026-11-20T22:00:00Z"));
        assert!(awake(s, "2026-11-21T05:59:00Z")); // Saturday morning, from Friday's window
        assert!(!awake(s, "2026-11-21T06:00:00Z"));
        assert!(!awake(s, "2026-11-21T23:00:00Z")); // Saturday night: no window starts Saturday
        assert!(!awake(s, "2026-11-20T03:00:00Z")); // Friday early: that would be Thursday's window
        let every_night = "22:00-06:00";
        assert!(awake(every_night, "2026-11-22T23:30:00Z"));
        assert!(awake(every_night, "2026-11-23T00:30:00Z"));
        assert!(!awake(every_night, "2026-11-23T12:00:00Z"));
    }

    #[test]
    fn end_of_day_and_always_never() {
        assert!(awake("00:00-24:00", "2026-11-22T23:59:59Z"));
        assert!(awake("always", "2026-11-22T03:00:00Z"));
        assert!(!awake("never", "2026-11-20T12:00:00Z"));
        assert!(awake("ALWAYS", "2026-11-22T03:00:00Z"));
    }

    #[test]
    fn zone_at_the_end_is_used() {
        let s = Schedule::parse("Mon-Fri 08:00-20:00 Europe/Berlin").unwrap();
        assert_eq!(s.zone, Some(chrono_tz::Europe::Berlin));
        // 07:30 UTC in November is 08:30 in Berlin.
        assert!(s.verdict(at("2026-11-20T07:30:00Z"), Tz::UTC, &[]).awake);
        assert!(!s.verdict(at("2026-11-20T19:30:00Z"), Tz::UTC, &[]).awake);
        // Without a zone the default applies.
        let plain = Schedule::parse("Mon-Fri 08:00-20:00").unwrap();
        assert!(plain.verdict(at("2026-11-20T07:30:00Z"), chrono_tz::Europe::Berlin, &[]).awake);
        assert!(!plain.verdict(at("2026-11-20T07:30:00Z"), Tz::UTC, &[]).awake);
    }

    /// Wall-clock hours hold on both DST transition days: the UTC instant of "08:00 local" moves.
    #[test]
    fn dst_transitions_in_berlin_and_new_york() {
        let cases = [
            // Berlin springs forward on Sun 2026-03-29 and falls back on Sun 2026-10-25.
            ("Europe/Berlin", "2026-03-27T06:59:00Z", false), // Fri 07:59 CET
            ("Europe/Berlin", "2026-03-27T07:00:00Z", true),  // Fri 08:00 CET
            ("Europe/Berlin", "2026-03-30T05:59:00Z", false), // Mon 07:59 CEST
            ("Europe/Berlin", "2026-03-30T06:00:00Z", true),  // Mon 08:00 CEST
            ("Europe/Berlin", "2026-03-30T17:59:00Z", true),  // Mon 19:59 CEST
            ("Europe/Berlin", "2026-03-30T18:00:00Z", false), // Mon 20:00 CEST
            ("Europe/Berlin", "2026-10-23T06:00:00Z", true),  // Fri 08:00 CEST
            ("Europe/Berlin", "2026-10-26T06:30:00Z", false), // Mon 07:30 CET
            ("Europe/Berlin", "2026-10-26T07:00:00Z", true),  // Mon 08:00 CET
            // New York springs forward Sun 2026-03-08 and falls back Sun 2026-11-01.
            ("America/New_York", "2026-03-06T13:00:00Z", true), // Fri 08:00 EST
            ("America/New_York", "2026-03-09T11:59:00Z", false), // Mon 07:59 EDT
            ("America/New_York", "2026-03-09T12:00:00Z", true), // Mon 08:00 EDT
            ("America/New_York", "2026-11-02T12:30:00Z", false), // Mon 07:30 EST
            ("America/New_York", "2026-11-02T13:00:00Z", true), // Mon 08:00 EST
            ("America/New_York", "2026-11-03T00:59:00Z", true), // Mon 19:59 EST
            ("America/New_York", "2026-11-03T01:00:00Z", false), // Mon 20:00 EST
        ];
        for (zone, instant, want) in cases {
            let s = Schedule::parse(&format!("Mon-Fri 08:00-20:00 {zone}")).unwrap();
            assert_eq!(s.verdict(at(instant), Tz::UTC, &[]).awake, want, "{zone} at {instant}");
        }
    }

    /// A night window on the night the clocks change still ends at 06:00 local time.
    #[test]
    fn dst_night_window_ends_at_local_time() {
        let s = Schedule::parse("Sat 22:00-06:00 Europe/Berlin").unwrap();
        // Night of 2026-10-24/25: 06:00 CET on Sunday is 05:00 UTC.
        assert!(s.verdict(at("2026-10-25T04:59:00Z"), Tz::UTC, &[]).awake);
        assert!(!s.verdict(at("2026-10-25T05:00:00Z"), Tz::UTC, &[]).awake);
        // Night of 2026-03-28/29: 06:00 CEST on Sunday is 04:00 UTC.
        assert!(s.verdict(at("2026-03-29T03:59:00Z"), Tz::UTC, &[]).awake);
        assert!(!s.verdict(at("2026-03-29T04:00:00Z"), Tz::UTC, &[]).awake);
    }

    #[test]
    fn holidays_are_whole_local_days_asleep() {
        let s = Schedule::parse("Mon-Fri 08:00-20:00 America/New_York").unwrap();
        let thanksgiving = [NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()];
        assert!(!s.verdict(at("2026-11-26T15:00:00Z"), Tz::UTC, &thanksgiving).awake);
        assert!(s.verdict(at("2026-11-26T15:00:00Z"), Tz::UTC, &[]).awake);
        // 02:00 UTC on the 27th is still the 26th in New York: asleep either way, but the day after is not a holiday.
        assert!(s.verdict(at("2026-11-27T15:00:00Z"), Tz::UTC, &thanksgiving).awake);
        assert!(s.verdict(at("2026-11-26T15:00:00Z"), Tz::UTC, &thanksgiving).why.contains("holiday"));
        // `always` means always.
        assert!(Schedule::parse("always").unwrap().verdict(at("2026-11-26T15:00:00Z"), Tz::UTC, &thanksgiving).awake);
    }

    #[test]
    fn rejects_malformed_schedules_naming_the_problem() {
        for (input, needle) in [
            ("", "empty"),
            ("Mon-Fri", "not followed by a time range"),
            ("Mon Tue 08:00-10:00", "join days with `+`"),
            ("Mon-Fri 8-20", "not a 24-hour time"),
            ("Mon-Fri 08:00-25:00", "not a 24-hour time"),
            ("Mon-Fri 08:60-20:00", "not a 24-hour time"),
            ("Mon-Fri 24:00-08:00", "only allowed as the end"),
            ("Mon-Fri 08:00-08:00", "same time"),
            ("Mon-Fri 08:00-20:00 Mars/Olympus", "not an IANA time zone"),
            ("Mon-Fry 08:00-20:00", "not a day"),
            ("weekdays 08:00-20:00", "neither days"),
            ("always sometimes", "not an IANA time zone"),
            ("never UTC extra", "unexpected"),
            ("Europe/Berlin", "neither days"),
            ("Mon-Fri 08:00-20:00 Europe/Berlin Sat 10:00-12:00", "neither days"),
            // Found by the property test: slicing bytes here once split a multi-byte character.
            ("t\u{e4df6}x 08:00-20:00", "neither days"),
            ("Mo€ 08:00-20:00", "neither days"),
        ] {
            let err = Schedule::parse(input).expect_err(input);
            assert!(err.to_string().contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn displays_as_written() {
        let s = Schedule::parse("  Mon-Fri 08:00-20:00   Europe/Berlin ").unwrap();
        assert_eq!(s.to_string(), "Mon-Fri 08:00-20:00   Europe/Berlin");
        let _ = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod dst_tests;
