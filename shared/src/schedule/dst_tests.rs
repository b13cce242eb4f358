//! Every 15-minute tick of 2026's DST transition days in three zones, against an oracle that knows
//! the offsets from the published transition instants rather than from the zone database.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::Schedule;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A zone's 2026 offsets (hours from UTC) and the instants summer time starts and ends.
struct Zone {
    name: &'static str,
    standard: i64,
    summer: i64,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
}

impl Zone {
    fn offset(&self, t: DateTime<Utc>) -> i64 {
        let in_summer = if self.starts < self.ends {
            self.starts <= t && t < self.ends
        } else {
            // Southern hemisphere: summer time runs across the new year.
            t >= self.starts || t < self.ends
        };
        if in_summer {
            self.summer
        } else {
            self.standard
        }
    }
}

fn zones() -> Vec<Zone> {
    let zone =
        |name, standard, summer, starts, ends| Zone { name, standard, summer, starts: at(starts), ends: at(ends) };
    vec![
        zone("Europe/Berlin", 1, 2, "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"),
        zone("America/New_York", -5, -4, "2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"),
        zone("Australia/Sydney", 10, 11, "2026-10-03T16:00:00Z", "2026-04-04T16:00:00Z"),
    ]
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
    for zone in zones() {
        for transition in [zone.starts, zone.ends] {
            // The whole local transition day and a day either side.
            let mut t = transition - Duration::hours(36);
            while t <= transition + Duration::hours(36) {
                let local = t + Duration::hours(zone.offset(t));
                let minute = local.hour() * 60 + local.minute();
                for (text, windows) in CASES {
                    let schedule = Schedule::parse(&format!("{text} {}", zone.name)).unwrap();
                    let got = schedule.verdict(t, Tz::UTC, &[]).awake;
                    let want = oracle(windows, local.weekday(), minute);
                    assert_eq!(got, want, "`{text}` in {} at {t} (local {local})", zone.name);
                    checked += 1;
                }
                t += Duration::minutes(15);
            }
        }
    }
    assert_eq!(checked, 3 * 2 * 289 * CASES.len());
}
