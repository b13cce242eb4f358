//! Every 15-minute tick of 2026's DST transition days in three zones, against an oracle that knows
//! the offsets from the published transition instants rather than from the zone database.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::Schedule;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// (zone, standard offset, summer offset, summer starts, summer ends), offsets in hours.
fn zones() -> Vec<(&'static str, i64, i64, DateTime<Utc>, DateTime<Utc>)> {
    vec![
        ("Europe/Berlin", 1, 2, at("2026-03-29T01:00:00Z"), at("2026-10-25T01:00:00Z")),
        ("America/New_York", -5, -4, at("2026-03-08T07:00:00Z"), at("2026-11-01T06:00:00Z")),
        // Southern hemisphere: summer time runs across the new year.
        ("Australia/Sydney", 10, 11, at("2026-10-03T16:00:00Z"), at("2026-04-04T16:00:00Z")),
    ]
}

fn offset(t: DateTime<Utc>, standard: i64, summer: i64, starts: DateTime<Utc>, ends: DateTime<Utc>) -> i64 {
    let in_summer = if starts < ends { starts <= t && t < ends } else { t >= starts || t < ends };
    if in_summer {
        summer
    } else {
        standard
    }
}

/// (days as weekday numbers from Monday, start minute, end minute).
type Window = (&'static [u32], u32, u32);

const EVERY_DAY: &[u32] = &[0, 1, 2, 3, 4, 5, 6];
const CASES: [(&str, &[Window]); 5] = [
    ("Mon-Fri 08:00-20:00", &[(&[0, 1, 2, 3, 4], 480, 1200)]),
    ("01:30-03:30", &[(EVERY_DAY, 90, 210)]),
    ("Sun 02:00-02:45", &[(&[6], 120, 165)]),
    ("22:00-02:30", &[(EVERY_DAY, 1320, 150)]),
    ("Sat+Sun 00:00-02:15 Sun 03:00-06:00", &[(&[5, 6], 0, 135), (&[6], 180, 360)]),
];

fn oracle(windows: &[Window], weekday: Weekday, minute: u32) -> bool {
    let day = weekday.num_days_from_monday();
    let prev = (day + 6) % 7;
    windows.iter().any(|&(days, start, end)| {
        if end > start {
            days.contains(&day) && (start..end).contains(&minute)
        } else {
            (days.contains(&day) && minute >= start) || (days.contains(&prev) && minute < end)
        }
    })
}

#[test]
fn every_tick_of_both_transitions_matches_the_oracle() {
    let mut checked = 0;
    for (zone, standard, summer, starts, ends) in zones() {
        for transition in [starts, ends] {
            // The whole local transition day and a day either side.
            let mut t = transition - Duration::hours(36);
            while t <= transition + Duration::hours(36) {
                let local = t + Duration::hours(offset(t, standard, summer, starts, ends));
                let minute = local.hour() * 60 + local.minute();
                for (text, windows) in CASES {
                    let schedule = Schedule::parse(&format!("{text} {zone}")).unwrap();
                    let got = schedule.verdict(t, Tz::UTC, &[]).awake;
                    let want = oracle(windows, local.weekday(), minute);
                    assert_eq!(got, want, "`{text}` in {zone} at {t} (local {local})");
                    checked += 1;
                }
                t += Duration::minutes(15);
            }
        }
    }
    assert_eq!(checked, 3 * 2 * 289 * CASES.len());
}
