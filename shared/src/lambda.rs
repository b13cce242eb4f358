//! The Lambda edge: configuration and clients once at start-up, then one run per event.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use crate::aws::AwsFleet;
use crate::config::Config;
use crate::event::parse_invocation;
use crate::plan::Mode;
use crate::run::run;
use crate::summary::Summary;

/// Serves `mode` until the runtime stops. Fails before any AWS call on a bad variable.
pub async fn serve(mode: Mode) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().map_err(|e| {
        tracing::error!(error = %e, "bad configuration");
        e
    })?;
    let fleet = AwsFleet::from_env().await;
    let (config, fleet) = (&config, &fleet);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(mode, config, fleet, event.payload).await
    }))
    .await
}

async fn handle(mode: Mode, config: &Config, fleet: &AwsFleet, payload: Value) -> Result<Summary, Diagnostic> {
    let inv = parse_invocation(&payload, mode, chrono::Utc::now(), config.dry_run)
        .map_err(|e| diagnostic("InvalidPayload", e.to_string()))?;
    let summary = run(fleet, config, inv).await.map_err(|e| diagnostic("DiscoveryFailed", e.to_string()))?;
    let json = serde_json::to_string(&summary).unwrap_or_default();
    tracing::info!(summary = %json, "run finished");
    let failed: Vec<String> = summary
        .failures()
        .map(|f| format!("{}/{}: {}", f.cluster, f.service, f.error.as_deref().unwrap_or("failed")))
        .collect();
    if !failed.is_empty() {
        // An error makes the scheduler retry and the alarms fire; the full summary is in the log.
        return Err(diagnostic("ServicesFailed", format!("{} service(s) failed: {}", failed.len(), failed.join("; "))));
    }
    Ok(summary)
}

fn diagnostic(error_type: &str, error_message: String) -> Diagnostic {
    Diagnostic { error_type: error_type.to_string(), error_message }
}
