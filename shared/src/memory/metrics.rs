//! The load balancers' request metrics as the in-memory fleet keeps them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::MemoryFleet;
use crate::fleet::CallError;

impl MemoryFleet {
    /// From now on the metrics answer nothing for `target_group` (as a partial answer would).
    pub fn requests_unknown(&self, target_group: &str) {
        self.lock().unknown_requests.push(target_group.to_string());
    }

    /// From now on a minute's requests show in the metrics only `delay` after it (CloudWatch's
    /// ingestion delay): a run at `now` sees requests before `now - delay` only.
    pub fn metrics_late_by(&self, delay: chrono::Duration) {
        self.lock().metrics_delay = delay;
    }

    /// Records `count` requests served by `target_group` at `at` (a load balancer metric).
    pub fn record_requests(&self, target_group: &str, at: DateTime<Utc>, count: u64) {
        self.lock().requests.push((target_group.to_string(), at, count));
    }

    pub(super) async fn memory_request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        self.interleave().await;
        let mut state = self.lock();
        *state.calls.entry("cloudwatch:GetMetricData".into()).or_insert(0) += 1;
        Ok(target_groups
            .iter()
            .filter(|t| !state.unknown_requests.contains(t))
            .map(|t| {
                let n = state
                    .requests
                    .iter()
                    .filter(|(g, at, _)| g == t && *at >= since && *at < until - state.metrics_delay)
                    .map(|(_, _, n)| n)
                    .sum();
                (t.clone(), n)
            })
            .collect())
    }
}
