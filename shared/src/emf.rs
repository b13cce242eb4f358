//! CloudWatch Embedded Metric Format: one JSON log line per run that CloudWatch turns into
//! metrics, with no API call. Dimensioned by function so the alarm and dashboard can tell
//! scale-down, scale-up, reconcile and wake apart.

use serde_json::{json, Map, Value};

use crate::plan::IDLE_REASON;
use crate::summary::Summary;

pub const NAMESPACE: &str = "ECSCostSaver";
pub const DIMENSION: &str = "Function";

/// Every metric emitted, with its CloudWatch unit. The template's alarm and dashboard use these
/// names (tests/contract/template_guard.rs checks they exist).
pub const METRICS: [(&str, &str); 11] = [
    ("ServicesAsleep", "Count"),
    ("ServicesAwake", "Count"),
    ("ServicesPutToSleep", "Count"),
    ("ServicesRestored", "Count"),
    ("ServicesSkipped", "Count"),
    ("ServicesFailed", "Count"),
    ("ThrottledRetries", "Count"),
    ("EstimatedHourlySavings", "None"),
    ("DollarsSaved", "None"),
    ("ServicesWokenByRequest", "Count"),
    ("IdleSlept", "Count"),
];

/// The metric values of one run, in `METRICS` order. `ServicesAwake` is only known when the run
/// looked at the whole scope: `scale-up` and `wake` see just the services they restore.
fn values(summary: &Summary) -> [Option<f64>; 11] {
    let count = |names: &[&str]| Some(f64::from(names.iter().map(|n| summary.count(n)).sum::<u32>()));
    let whole_scope = matches!(summary.mode, "scale-down" | "reconcile");
    let failed = summary.failures().count() as u32;
    let asleep = summary.savings.asleep_services;
    let awake = (summary.services.len() as u32).saturating_sub(asleep + failed);
    [
        Some(f64::from(asleep)),
        whole_scope.then_some(f64::from(awake)),
        count(&["scaled_down", "kept_asleep"]),
        count(&["restored"]),
        count(&["skipped"]),
        Some(f64::from(failed)),
        Some(f64::from(summary.aws_retries.values().sum::<u32>())),
        Some(summary.savings.hourly_usd_avoided),
        Some(summary.savings.usd_saved),
        count(&["woken_by_request"]),
        Some(
            summary.services.iter().filter(|s| s.action == "scaled_down" && s.reason.starts_with(IDLE_REASON)).count()
                as f64,
        ),
    ]
}

/// The EMF document for one run of `function` at `timestamp_ms` (milliseconds since the epoch).
pub fn document(function: &str, summary: &Summary, timestamp_ms: i64) -> Value {
    let mut root = Map::new();
    let mut definitions = Vec::new();
    for ((name, unit), value) in METRICS.iter().zip(values(summary)) {
        if let Some(v) = value {
            definitions.push(json!({"Name": name, "Unit": unit}));
            root.insert((*name).to_string(), json!(v));
        }
    }
    root.insert(DIMENSION.into(), json!(function));
    root.insert("mode".into(), json!(summary.mode));
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(root)
}

/// Prints the run's metrics as one line on stdout, where Lambda's log agent picks EMF up.
/// Dry runs change nothing and report nothing: the dashboard shows only what happened.
pub fn emit(summary: &Summary) {
    if summary.dry_run {
        return;
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| summary.mode.to_string());
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", document(&function, summary, now));
}

#[cfg(test)]
mod tests;
