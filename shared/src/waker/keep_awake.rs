//! The waking page's keep-awake buttons (+1 h, +4 h, until tonight): a press with a valid token
//! keeps the asked service and every member of its environment awake that much longer, never
//! past `MAX_WAKE_HOURS` and never shortening a longer keep-alive.

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

use super::Answer;
use crate::config::Config;
use crate::fleet::{Fleet, Observation, Selector};
use crate::model::ServiceId;
use crate::run::Counters;
use crate::wake::{wake_selected, WakeOrigin, WakeRequest};

/// Keeps `id`'s environment awake `hours` from `clock` (clamped to 1..=`MAX_WAKE_HOURS`).
pub(super) async fn extend<F: Fleet>(
    config: &Config,
    fleet: &F,
    id: &ServiceId,
    hours: u32,
    (clock, answer_by): (DateTime<Utc>, Instant),
    observation: Observation,
    before: Counters,
) -> Answer {
    let hours = hours.clamp(1, config.max_wake_hours);
    let request = WakeRequest {
        selector: Selector::Service { cluster: id.cluster.clone(), service: id.name.clone() },
        until: clock + Duration::hours(hours.into()),
        now: clock,
        dry_run: config.dry_run,
        origin: WakeOrigin::Engineer,
    };
    let name = id.name.clone();
    let kept = wake_selected(fleet, config, &request, Some(answer_by), observation, before).await;
    let report = match super::settle(kept, &name, "cannot be kept awake") {
        Ok(report) => report,
        Err(answer) => return answer,
    };
    if request.dry_run {
        return Answer::DryRun { service: name };
    }
    tracing::info!(service = %id, hours, until = %report.until, "kept awake from the waking page");
    Answer::Pressed { service: name }
}
