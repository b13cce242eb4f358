//! The Lambda edge: configuration and clients once at start-up, then one run per event.

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use crate::aws::AwsFleet;
use crate::config::Config;
use crate::event::parse_invocation;
use crate::fleet::{ChangeService, ReadFleet};
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
        handle(mode, config, fleet, event.payload, Utc::now()).await
    }))
    .await
}

/// One event: parse (no AWS call for a bad payload), run, log the summary, and fail the
/// invocation after the rest is done when any service failed.
pub async fn handle<F: ReadFleet + ChangeService>(
    mode: Mode,
    config: &Config,
    fleet: &F,
    payload: Value,
    clock: DateTime<Utc>,
) -> Result<Summary, Diagnostic> {
    let inv = parse_invocation(&payload, mode, clock, config.dry_run)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryFleet, MemoryService};
    use serde_json::json;

    fn friday_evening() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T21:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn a_malformed_payload_makes_no_aws_call() {
        let fleet = MemoryFleet::new();
        let config = Config::from_lookup(|_| None).unwrap();
        let err =
            handle(Mode::ScaleDown, &config, &fleet, json!({"dryrun": true}), friday_evening()).await.unwrap_err();
        assert_eq!(err.error_type, "InvalidPayload");
        assert!(err.error_message.contains("unknown field `dryrun`"), "{}", err.error_message);
        assert!(fleet.calls().is_empty());
    }

    #[tokio::test]
    async fn failed_services_fail_the_invocation_after_the_others_are_done() {
        let fleet = MemoryFleet::new();
        fleet.add_cluster("dev", &[("Environment", "dev")]);
        fleet.add_service(MemoryService::new("dev", "a", 1));
        fleet.add_service(MemoryService::new("dev", "b", 1));
        fleet.fail_write(1);
        let config = Config::from_lookup(|_| None).unwrap();
        let err = handle(Mode::ScaleDown, &config, &fleet, json!({}), friday_evening()).await.unwrap_err();
        assert_eq!(err.error_type, "ServicesFailed");
        assert!(err
            .error_message
            .starts_with("1 service(s) failed: dev/a: ecs:TagResource failed (ThrottlingException)"));
        assert_eq!(fleet.service("dev", "b").desired, 0, "the other service is still scaled down");
    }
}
