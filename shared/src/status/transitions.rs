//! When the planner changes its mind about a service: planned at the instants where its answer can
//! change, then the flip simulated and the search continued.

use super::*;

/// The planner's transitions for `service` from `from` (included: a change due now) to `until`,
/// at most `limit`. Future traffic is unknown, so idle sleeps are not foreseen.
pub fn transitions(
    service: &ObservedService,
    config: &Config,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<Transition> {
    let mut s = service.clone();
    s.requests = None;
    let mut out = Vec::new();
    for at in candidates(&s, config, from, until) {
        if out.len() >= limit {
            break;
        }
        let inv = what_if(at);
        let Some(entry) = plan(std::slice::from_ref(&s), config, inv).entries.into_iter().next() else { break };
        let to = match &entry.action {
            Action::ScaleDown { saved, .. } => {
                match saved.to_tag_value() {
                    Ok(value) => s.tags.insert(config.tags.saved.clone(), value),
                    Err(_) => break,
                };
                s.desired = 0;
                "sleep"
            }
            Action::KeepAsleep { .. } => {
                s.desired = 0;
                "sleep"
            }
            Action::Restore { desired, .. } => {
                s.tags.remove(&config.tags.saved);
                s.desired = desired.unwrap_or(s.desired);
                "wake"
            }
            Action::Skip => continue,
        };
        let zone = read_tags(&s, config, at).zone;
        let local = format!("{} {}", at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M"), zone.name());
        out.push(Transition { at, local, to, reason: entry.reason });
    }
    out
}

/// The instants in `[from, until]` where the plan for `s` can change, in order.
fn candidates(s: &ObservedService, config: &Config, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let view = read_tags(s, config, from);
    let zone = view.zone;
    let mut at = vec![from];
    if let KeepAliveState::Active { until: Some(expiry) } = view.keep_alive {
        at.push(expiry);
    }
    if let Some(deployed) = s.last_deployed_at {
        at.push(deployed + Duration::minutes(config.grace_period_minutes.into()));
    }
    let minutes: Vec<u16> = match &view.schedule.hours {
        Hours::Windows(windows) => windows.iter().flat_map(|w| [w.start, w.end]).collect(),
        Hours::Always | Hours::Never => Vec::new(),
    };
    let first: NaiveDate = from.with_timezone(&zone).date_naive() - Duration::days(1);
    let last: NaiveDate = until.with_timezone(&zone).date_naive() + Duration::days(1);
    let mut day = first;
    while day <= last {
        for minute in std::iter::once(0).chain(minutes.iter().copied()) {
            let local = day.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::minutes(minute.into());
            at.push(local_to_utc(zone, local));
        }
        day += Duration::days(1);
    }
    at.retain(|t| *t >= from && *t <= until);
    at.sort();
    at.dedup();
    at
}
