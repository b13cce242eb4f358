//! CloudWatch Embedded Metric Format: one JSON log line per run that CloudWatch turns into
//! metrics, with no API call. Dimensioned by function so the alarm and dashboard can tell
//! scale-down, scale-up, reconcile and wake apart.

use serde_json::{json, Map, Value};

use crate::summary::{Caller, Reported, Summary};

pub const NAMESPACE: &str = "ECSCostSaver";
pub const DIMENSION: &str = "Function";
/// With `TARGETS`, each target's own document is dimensioned by these as well as the function.
pub const ACCOUNT_DIMENSION: &str = "Account";
pub const REGION_DIMENSION: &str = "Region";

/// Every metric emitted, with its CloudWatch unit. The template's alarm and dashboard use these
/// names (tests/contract/template_guard.rs checks they exist).
pub const METRICS: [(&str, &str); 12] = [
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
    ("TargetsFailed", "Count"),
];

/// The metric values of one run, in `METRICS` order. `ServicesAwake` is only known when the run
/// looked at the whole scope: `scale-up` and `wake` see just the services they restore.
fn values(summary: &Summary) -> [Option<f64>; 12] {
    let count = |actions: &[Reported]| Some(f64::from(actions.iter().map(|a| summary.count(*a)).sum::<u32>()));
    let whole_scope = summary.caller.sees_whole_scope();
    let failed = summary.failures().count() as u32;
    let asleep = summary.savings.asleep_services;
    let awake = (summary.services.len() as u32).saturating_sub(asleep + failed);
    [
        Some(f64::from(asleep)),
        whole_scope.then_some(f64::from(awake)),
        count(&[Reported::ScaledDown, Reported::KeptAsleep]),
        count(&[Reported::Restored]),
        count(&[Reported::Skipped]),
        Some(f64::from(failed)),
        Some(f64::from(summary.aws_retries.values().sum::<u32>())),
        Some(summary.savings.hourly_usd_avoided),
        Some(summary.savings.usd_saved),
        count(&[Reported::WokenByRequest]),
        Some(summary.services.iter().filter(|s| s.action == Reported::ScaledDown && s.idle).count() as f64),
        // Only when the run worked on `TARGETS`.
        (!summary.targets.is_empty()).then(|| summary.targets.iter().filter(|t| t.error.is_some()).count() as f64),
    ]
}

/// Logs what a function returns (`report`, carrying `summary`) as one line, then the run's EMF
/// metrics: every function ends its work with exactly these two lines. Over `TARGETS`, each
/// target's share is a line of its own first (`target finished`), and the whole run's line
/// leaves the entries out: ten targets of 1,000 services would be one line of megabytes.
pub fn publish(report: &impl serde::Serialize, summary: &Summary) {
    let finished = match summary.caller {
        Caller::Run(_) => "run finished",
        Caller::Wake => "wake finished",
        Caller::Waker => "waker finished",
    };
    // Each target's share, for its log line and its metrics (none without `TARGETS`).
    let parts = crate::hub::per_target(summary);
    if summary.targets.is_empty() {
        let json = serde_json::to_string(report).unwrap_or_default();
        tracing::info!(summary = %json, "{finished}");
    } else {
        for (t, part) in summary.targets.iter().zip(&parts) {
            let json = serde_json::to_string(part).unwrap_or_default();
            tracing::info!(account = %t.account, region = %t.region, summary = %json, "target finished");
        }
        let mut whole = summary.clone();
        whole.services_omitted += whole.services.len() as u32;
        whole.services.clear();
        let json = serde_json::to_string(&whole).unwrap_or_default();
        tracing::info!(summary = %json, "{finished}");
    }
    log_environments(summary);
    emit(summary, &parts);
}

/// The message of the per-environment lines the dashboard's Logs Insights widget reads.
pub const ENVIRONMENT_SAVINGS: &str = "environment savings";

/// One log line per environment with its share of the run's savings: environments are too many
/// to be a metric dimension (every one a custom metric), and the dashboard's top-environments
/// widget queries these lines instead. Dry runs log none, as they emit no metrics.
fn log_environments(summary: &Summary) {
    if summary.dry_run {
        return;
    }
    for e in &summary.savings.by_environment {
        tracing::info!(
            mode = summary.caller.name(),
            environment = %e.environment,
            asleep_services = e.asleep_services,
            asleep_tasks = e.asleep_tasks,
            hourly_usd_avoided = e.hourly_usd_avoided,
            restored_services = e.restored_services,
            usd_saved = e.usd_saved,
            "{ENVIRONMENT_SAVINGS}"
        );
    }
}

/// The EMF document for one run of `function` at `timestamp_ms` (milliseconds since the epoch).
pub fn document(function: &str, summary: &Summary, timestamp_ms: i64) -> Value {
    document_in(function, None, summary, timestamp_ms)
}

/// The EMF document of one run, or with `target` of that target's share of it, dimensioned by
/// function, account and region (the whole run's stays by function alone: its maxima are the
/// organization's, not one target's).
pub fn document_in(
    function: &str,
    target: Option<&crate::summary::TargetReport>,
    summary: &Summary,
    timestamp_ms: i64,
) -> Value {
    let mut root = Map::new();
    let mut definitions = Vec::new();
    for ((name, unit), value) in METRICS.iter().zip(values(summary)) {
        if let Some(v) = value {
            definitions.push(json!({"Name": name, "Unit": unit}));
            root.insert((*name).to_string(), json!(v));
        }
    }
    root.insert(DIMENSION.into(), json!(function));
    let mut dimensions = vec![DIMENSION];
    if let Some(t) = target {
        root.insert(ACCOUNT_DIMENSION.into(), json!(t.account));
        root.insert(REGION_DIMENSION.into(), json!(t.region));
        dimensions.extend([ACCOUNT_DIMENSION, REGION_DIMENSION]);
    }
    root.insert("mode".into(), json!(summary.caller.name()));
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(root)
}

/// Prints the run's metrics as one line on stdout, where Lambda's log agent picks EMF up, and a
/// line for each target's share (`parts`, in `summary.targets` order).
/// Dry runs change nothing and report nothing: the dashboard shows only what happened.
fn emit(summary: &Summary, parts: &[Summary]) {
    if summary.dry_run {
        return;
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| summary.caller.name().to_string());
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", document(&function, summary, now));
    for (target, part) in summary.targets.iter().zip(parts) {
        println!("{}", document_in(&function, Some(target), part, now));
    }
}

#[cfg(test)]
mod tests;
