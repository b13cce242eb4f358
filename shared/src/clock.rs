//! The run's clock. Every instant the tool writes into a tag (`saved`'s `at`, a keep-alive) holds
//! whole seconds, so the instant a run plans with holds whole seconds too: a value compared with
//! what it reads back must not differ by the nanoseconds the tag cannot carry.

use chrono::{DateTime, SubsecRound, Utc};

/// The real clock as a run sees it: now, to the whole second. Read only by the handlers (and the
/// CLI's commands); everything below them takes the time as an argument.
pub fn now() -> DateTime<Utc> {
    whole_seconds(Utc::now())
}

/// `t` without its fraction of a second (earlier, never later: a run planned at 20:00:00.9 is a
/// run at 20:00:00).
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn the_clock_has_no_fraction_of_a_second() {
        assert_eq!(now().nanosecond(), 0);
        let t = DateTime::parse_from_rfc3339("2026-12-01T07:41:15.999999999Z").unwrap().with_timezone(&Utc);
        assert_eq!(whole_seconds(t).to_rfc3339(), "2026-12-01T07:41:15+00:00");
        // A leap second (chrono's nanoseconds past 1e9) is still that second, never the next.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(whole_seconds(leap).nanosecond(), 1_000_000_000);
        assert_eq!(whole_seconds(leap).timestamp(), leap.timestamp());
    }
}
