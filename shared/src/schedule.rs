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
            (self.days.contains(day) && minute >= self.start)
                || (self.days.contains(day.pred()) && minute < self.end)
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
    token
        .parse::<Tz>()
        .map_err(|_| format!("`{token}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)"))
}

fn looks_like_time_range(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit()) && token.contains(':')
}

fn parse_time_range(token: &str) -> Result<(u16, u16), String> {
    let (start, end) = token
        .split_once('-')
        .ok_or_else(|| format!("`{token}` is not a time range like `08:00-20:00`"))?;
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
    if !token.starts_with(|c: char| c.is_ascii_alphabetic()) || parse_day(&token[..token.len().min(3)]).is_none() {
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
