//! Sleeping when idle: a load-balanced service whose target groups served no request for its
//! `cost-saver:idle-after` (or `IDLE_AFTER`) is put to sleep by `reconcile`, even in working
//! hours. Keep-alive, protection, the grace period and an `always` schedule still win; a
//! service deployed (or woken by a request) less than its idle-after ago is never idle.

/// Shortest and longest idle-after: below five minutes a pause between two clicks would count;
/// a week is the longest look-back worth asking CloudWatch for.
pub const MIN_MINUTES: u32 = 5;

/// How much later than the minute it counts CloudWatch may show a load balancer's request count.
/// ELB sends its metrics every 60 seconds, and they usually show within one to three minutes;
/// every look-back starts this much earlier than the idle-after, so a request that is not in
/// yet cannot hide a busy service behind an otherwise silent window. A service therefore sleeps
/// once its last request is idle-after plus these 5 minutes old (a 5m idle-after: 10 minutes).
pub const CLOUDWATCH_DELAY_MINUTES: u32 = 5;
pub const MAX_MINUTES: u32 = 7 * 24 * 60;

/// `90m`, `2h` (whole minutes or hours), or `off`: minutes, or `None` for off.
pub fn parse_idle_after(text: &str) -> Result<Option<u32>, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "off" || t == "never" {
        return Ok(None);
    }
    let (number, unit) = t.split_at(t.len().saturating_sub(1));
    let minutes = match (number.parse::<u32>(), unit) {
        (Ok(n), "m") => Some(n),
        (Ok(n), "h") => n.checked_mul(60),
        _ => None,
    };
    match minutes {
        Some(m) if (MIN_MINUTES..=MAX_MINUTES).contains(&m) => Ok(Some(m)),
        _ => Err(format!(
            "`{}` is not an idle time like `90m` or `2h` from {MIN_MINUTES}m to {}h, or `off`",
            crate::text::echo(text),
            MAX_MINUTES / 60
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_after_reads_minutes_hours_and_off() {
        for (text, want) in [
            ("90m", Some(90)),
            ("2h", Some(120)),
            (" 5M ", Some(5)),
            ("168h", Some(10_080)),
            ("off", None),
            ("never", None),
        ] {
            assert_eq!(parse_idle_after(text), Ok(want), "{text}");
        }
        for bad in ["", "90", "4m", "169h", "1.5h", "-5m", "90 m", "9999999999h", "m", "h"] {
            assert!(parse_idle_after(bad).is_err(), "{bad:?}");
        }
    }
}
