//! The Lambda edge: configuration and clients once at start-up, then one run per event.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::aws::hub::Hub;
use crate::aws::AwsFleet;
use crate::config::Config;
use crate::event::{parse_invocation, parse_payload};
use crate::fleet::Fleet;
use crate::hub::Reached;
use crate::plan::Mode;
use crate::run::run;
use crate::summary::Summary;
use crate::targets::Place;
use crate::wake::{parse_wake, wake, WakeError, WakeReport};

/// Once per cold start: JSON logs when Lambda asks for them, configuration (failing before any
/// AWS call, naming the bad variable) and the clients.
async fn start(timeouts: crate::aws::Timeouts) -> Result<(Config, AwsFleet, Option<Hub>), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut config = Config::from_env().map_err(|e| {
        tracing::error!(error = %e, "bad configuration");
        e
    })?;
    // Read before `from_env` unsets the empty endpoint variables.
    if let Some(why) = crate::startup::sam_local_guard(|k| std::env::var(k).ok()) {
        tracing::warn!("{why}");
        config.dry_run = true;
        config.forced_dry_run = Some(why);
    }
    let sdk = crate::aws::env_config().await.map_err(|e| {
        tracing::error!(error = %e, "cannot start");
        lambda_runtime::Error::from(e)
    })?;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ecs-cost-saver".into());
    let hub = (!config.targets.is_empty()).then(|| Hub::new(&sdk, timeouts, &function));
    Ok((config, AwsFleet::with_timeouts(&sdk, timeouts), hub))
}

/// Serves `mode` until the runtime stops. Fails before any AWS call on a bad variable.
pub async fn serve(mode: Mode) -> Result<(), lambda_runtime::Error> {
    serve_json(JsonFunction::Scheduled(mode)).await
}

/// The functions whose events are JSON payloads.
#[derive(Debug, Clone, Copy)]
enum JsonFunction {
    Scheduled(Mode),
    Wake,
}

/// A JSON function's answer, serialised as it is (untagged).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Response {
    Summary(Box<Summary>),
    Json(Value),
}

/// The runtime loop of a JSON function: configuration and clients once, then per event the
/// payload parsed (no AWS call for a bad one) and handled at the run's whole-second clock.
async fn serve_json(function: JsonFunction) -> Result<(), lambda_runtime::Error> {
    let (config, fleet, hub) = start(crate::aws::Timeouts::default()).await?;
    let (config, fleet, hub) = (&config, &fleet, &hub);
    // Boxed per event: the handler's state machine is deep (the SDK's own futures inside), and
    // nesting it in the runtime's future exceeds the compiler's layout query depth.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let deadline = run_deadline(event.context.deadline);
        Box::pin(async move {
            let payload =
                parse_payload(event.payload.get()).map_err(|e| diagnostic("InvalidPayload", e.to_string()))?;
            let clock = crate::clock::now();
            Ok::<_, Diagnostic>(match (function, hub) {
                (JsonFunction::Scheduled(mode), None) => {
                    Response::Summary(Box::new(handle(mode, config, fleet, payload, clock, deadline).await?))
                }
                (JsonFunction::Scheduled(mode), Some(hub)) => {
                    let inv = parse_invocation(&payload, mode, clock, config.dry_run)
                        .map_err(|e| diagnostic("InvalidPayload", e.to_string()))?;
                    let reached = hub.reach(&config.targets, &config.spoke_role_name, &Place::default()).await;
                    Response::Summary(Box::new(handle_targets(config, &reached, inv, deadline).await?))
                }
                (JsonFunction::Wake, None) => {
                    Response::Json(handle_wake(config, fleet, payload, clock, deadline).await?)
                }
                (JsonFunction::Wake, Some(hub)) => {
                    Response::Json(handle_wake_on_targets(config, hub, payload, clock, deadline).await?)
                }
            })
        })
    }))
    .await
}

/// One event: parse (no AWS call for a bad payload), run, log the summary, and fail the
/// invocation after the rest is done when any service failed.
pub async fn handle<F: Fleet>(
    mode: Mode,
    config: &Config,
    fleet: &F,
    payload: Value,
    clock: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<Summary, Diagnostic> {
    let inv = parse_invocation(&payload, mode, clock, config.dry_run)
        .map_err(|e| diagnostic("InvalidPayload", e.to_string()))?;
    let summary = run(fleet, config, inv, deadline).await.map_err(|e| diagnostic("DiscoveryFailed", e.to_string()))?;
    crate::emf::publish(&summary, &summary);
    // An error makes the scheduler retry and the alarms fire; the full summary is in the log.
    services_failed(&summary)?;
    Ok(summary)
}

/// With `TARGETS`: one run on every target at once, failing after all are done when a target
/// could not be worked on or a service failed (`TargetsFailed`, `ServicesFailed`).
pub async fn handle_targets<F: Fleet>(
    config: &Config,
    reached: &[Reached<F>],
    inv: crate::plan::Invocation,
    deadline: Option<Instant>,
) -> Result<Summary, Diagnostic> {
    let summary = crate::hub::run_targets(reached, config, inv, deadline).await;
    crate::emf::publish(&summary, &summary);
    services_failed(&summary)?;
    Ok(crate::hub::within_answer_limit(summary, crate::hub::MAX_ANSWER_BYTES))
}

/// `TargetsFailed` naming each target that could not be worked on, else `ServicesFailed` naming
/// each failed or unreached service (with its account and region on `TARGETS`), when any.
fn services_failed(summary: &Summary) -> Result<(), Diagnostic> {
    let failed: Vec<String> = summary
        .failures()
        .map(|f| {
            let place = match (&f.account, &f.region) {
                (Some(a), Some(r)) => format!("{a}:{r}:"),
                _ => String::new(),
            };
            let why = f.error.as_deref().unwrap_or("not reached before the deadline");
            format!("{place}{}/{}: {why}", f.cluster, f.service)
        })
        .collect();
    let services = format!("{} service(s) failed: {}", failed.len(), failed.join("; "));
    let targets = crate::hub::failed_targets(summary);
    match (targets.is_empty(), failed.is_empty()) {
        (true, true) => Ok(()),
        (true, false) => Err(diagnostic("ServicesFailed", services)),
        (false, _) => {
            let also = if failed.is_empty() { String::new() } else { format!("; {services}") };
            Err(diagnostic(
                "TargetsFailed",
                format!("{} target(s) failed: {}{also}", targets.len(), targets.join("; ")),
            ))
        }
    }
}

/// A wake on `TARGETS`: the request and where to look, refused before any AWS call.
pub fn parse_wake_on_targets(
    config: &Config,
    payload: &Value,
    clock: DateTime<Utc>,
) -> Result<(crate::wake::WakeRequest, Place), Diagnostic> {
    let bad = |e: crate::event::PayloadError| diagnostic("InvalidPayload", e.to_string());
    Ok((parse_wake(payload, clock, config).map_err(bad)?, crate::wake::place_of(payload).map_err(bad)?))
}

/// A wake on every target `reached` holds: the merged report, or the error of a wake that found
/// nothing anywhere; a target that failed or refused fails the invocation after the others.
pub async fn handle_wake_targets<F: Fleet>(
    config: &Config,
    reached: &[Reached<F>],
    request: &crate::wake::WakeRequest,
    deadline: Option<Instant>,
) -> Result<Value, Diagnostic> {
    let report =
        wake_reached(config, reached, request, deadline).await.map_err(|e| diagnostic(e.kind().0, e.to_string()))?;
    wake_result(report)
}

/// A wake on the reached targets, logged and published, its answer within Lambda's limit.
async fn wake_reached<F: Fleet>(
    config: &Config,
    reached: &[Reached<F>],
    request: &crate::wake::WakeRequest,
    deadline: Option<Instant>,
) -> Result<WakeReport, WakeError> {
    let mut report = crate::hub::wake_targets(reached, config, request, deadline).await?;
    crate::emf::publish(&report, &report.summary);
    report.summary = crate::hub::within_answer_limit(report.summary, crate::hub::MAX_ANSWER_BYTES);
    Ok(report)
}

/// Serves `wake` until the runtime stops: direct invocations and Function URL requests.
pub async fn serve_wake() -> Result<(), lambda_runtime::Error> {
    serve_json(JsonFunction::Wake).await
}

/// Serves `waker` until the runtime stops: requests routed by a sleeping service's waking rule.
pub async fn serve_waker() -> Result<(), lambda_runtime::Error> {
    // The load balancer calling it is in its own account and region: `TARGETS` is not its.
    let (config, fleet, _) = start(crate::aws::Timeouts::waker()).await?;
    let (config, fleet) = (&config, &fleet);
    let recent = &crate::waker::RecentlyWoken::default();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<AlbTargetGroupRequest>| {
        let answer_by = waker_answer_by(event.context.deadline);
        Box::pin(handle_waker(config, fleet, event.payload, crate::clock::now(), recent, answer_by))
    }))
    .await
}

/// The waker's Lambda timeout, as the template sets it (a contract test checks they agree): a
/// browser waits for the answer, so it is short, and longer than every limit below it.
pub const WAKER_TIMEOUT: Duration = Duration::from_secs(15);

/// Kept back from the waker's deadline to answer and log: the page goes out even when AWS is
/// slow, saying it keeps trying (a wake cut short is finished by the next reload or reconcile).
const WAKER_MARGIN: Duration = Duration::from_secs(3);

/// When the waker stops waiting for AWS and answers: its deadline less `WAKER_MARGIN`, never
/// later than `WAKER_TIMEOUT` less the margin (local emulators send no real deadline).
pub fn waker_answer_by(lambda_deadline_ms: u64) -> Instant {
    let longest = Instant::now() + WAKER_TIMEOUT.saturating_sub(WAKER_MARGIN);
    let Some(now_ms) = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as u64) else {
        return longest;
    };
    if lambda_deadline_ms < PLAUSIBLE_DEADLINE_MS {
        return longest;
    }
    let remaining = Duration::from_millis(lambda_deadline_ms.saturating_sub(now_ms));
    longest.min(Instant::now() + remaining.saturating_sub(WAKER_MARGIN))
}

/// One request to the waker: always an HTTP answer (the load balancer shows errors as 502s), by
/// `answer_by` at the latest.
pub async fn handle_waker<F: Fleet>(
    config: &Config,
    fleet: &F,
    request: AlbTargetGroupRequest,
    clock: DateTime<Utc>,
    recent: &crate::waker::RecentlyWoken,
    answer_by: Instant,
) -> Result<AlbTargetGroupResponse, Diagnostic> {
    let target_group = request.request_context.elb.target_group_arn.as_deref();
    let deciding = crate::waker::decide(config, fleet, &request, clock, recent, answer_by);
    let answer = match tokio::time::timeout_at(answer_by.into(), deciding).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(target_group, "AWS did not answer in time; the page reloads and tries again");
            crate::waker::Answer::Retrying {
                service: "this environment".into(),
                why: "AWS did not answer in time".into(),
            }
        }
    };
    tracing::info!(method = %request.http_method, path = request.path.as_deref().unwrap_or(""), answer = ?answer, "waker");
    Ok(crate::waker::respond(&request, &answer))
}

/// A direct invocation answers with the report or a typed error; a Function URL request with an
/// HTTP response whose status says what went wrong (400, 403, 404, 422, 502). No service is
/// started after `deadline`.
pub async fn handle_wake<F: Fleet>(
    config: &Config,
    fleet: &F,
    payload: Value,
    clock: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<Value, Diagnostic> {
    answer_wake(config, Wakes::Fleet(fleet), payload, clock, deadline).await
}

/// `handle_wake` over `TARGETS`: each wake looks in the targets its payload names (an account,
/// a region, a service's ARN), or all of them.
pub async fn handle_wake_on_targets(
    config: &Config,
    hub: &Hub,
    payload: Value,
    clock: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<Value, Diagnostic> {
    answer_wake::<AwsFleet>(config, Wakes::Hub(hub), payload, clock, deadline).await
}

/// What a wake works on: one fleet, or every target of the hub's its payload names.
enum Wakes<'a, F> {
    Fleet(&'a F),
    Hub(&'a Hub),
}

/// A wake's answer: to a direct invocation the report or a typed error; to a Function URL
/// request an HTTP response whose status says what went wrong (400, 403, 404, 422, 500, 502).
async fn answer_wake<F: Fleet>(
    config: &Config,
    on: Wakes<'_, F>,
    payload: Value,
    clock: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<Value, Diagnostic> {
    let Some(body) = function_url_body(&payload) else {
        let report =
            wake_on(config, &on, &payload, clock, deadline).await.map_err(|e| diagnostic(e.kind().0, e.to_string()))?;
        return wake_result(report);
    };
    let (status, body) = match body.and_then(|b| parse_payload(&b).map_err(|e| format!("body: {e}"))) {
        Err(problem) => (400, serde_json::json!({"errorType": "InvalidPayload", "errorMessage": echo_error(&problem)})),
        Ok(inner) => match wake_on(config, &on, &inner, clock, deadline).await {
            Ok(report) if services_failed(&report.summary).is_err() => {
                (500, serde_json::to_value(&report).unwrap_or_default())
            }
            Ok(report) => (200, serde_json::to_value(&report).unwrap_or_default()),
            Err(e) => {
                (e.kind().1, serde_json::json!({"errorType": e.kind().0, "errorMessage": echo_error(&e.to_string())}))
            }
        },
    };
    Ok(serde_json::json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    }))
}

async fn wake_on<F: Fleet>(
    config: &Config,
    on: &Wakes<'_, F>,
    payload: &Value,
    clock: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<WakeReport, WakeError> {
    let hub = match on {
        Wakes::Fleet(fleet) => return run_wake(config, *fleet, payload, clock, deadline).await,
        Wakes::Hub(hub) => hub,
    };
    let request = parse_wake(payload, clock, config)?;
    let place = crate::wake::place_of(payload)?;
    let reached = hub.reach(&config.targets, &config.spoke_role_name, &place).await;
    wake_reached(config, &reached, &request, deadline).await
}

async fn run_wake<F: Fleet>(
    config: &Config,
    fleet: &F,
    payload: &Value,
    clock: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<WakeReport, WakeError> {
    let request = parse_wake(payload, clock, config)?;
    let report = wake(fleet, config, &request, deadline).await?;
    crate::emf::publish(&report, &report.summary);
    Ok(report)
}

fn wake_result(report: WakeReport) -> Result<Value, Diagnostic> {
    services_failed(&report.summary)?;
    Ok(serde_json::to_value(&report).unwrap_or_default())
}

/// `Some(body)` when the event is a Function URL request (payload format 2.0).
fn function_url_body(payload: &Value) -> Option<Result<String, String>> {
    if payload.get("requestContext").is_none() || payload.get("rawPath").is_none() {
        return None;
    }
    if payload.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        return Some(Err("send the body as JSON with `content-type: application/json`".into()));
    }
    Some(Ok(payload.get("body").and_then(Value::as_str).unwrap_or("").to_string()))
}

/// Time kept back from the Lambda's deadline: enough for services already started to finish
/// (each call bounded by `aws::Timeouts`' 20 s; a hung one ends its service), the re-read after
/// the writes, the task-definition reads for the cost estimate and the summary to be logged.
const DEADLINE_MARGIN: Duration = Duration::from_secs(90);

/// Deadlines before this (2001-09-09) are not epoch times: local emulators (cargo lambda watch)
/// send the timeout itself, e.g. 600000.
const PLAUSIBLE_DEADLINE_MS: u64 = 1_000_000_000_000;

/// When to stop starting services, from the invocation's deadline (ms since the epoch).
fn run_deadline(lambda_deadline_ms: u64) -> Option<Instant> {
    if lambda_deadline_ms < PLAUSIBLE_DEADLINE_MS {
        tracing::warn!(lambda_deadline_ms, "the runtime's deadline is not an epoch time; running without one");
        return None;
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    let remaining = Duration::from_millis(lambda_deadline_ms.saturating_sub(now_ms));
    // Short test timeouts: never keep back more than half of what is left.
    Some(Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN.min(remaining / 2)))
}

/// Error messages name what was wrong; input they repeat was cut where it was quoted, and the
/// whole message is bounded too (a list of a thousand failed services stays readable).
fn diagnostic(error_type: &str, error_message: String) -> Diagnostic {
    Diagnostic { error_type: error_type.to_string(), error_message: echo_error(&error_message) }
}

const MAX_ERROR_MESSAGE_CHARS: usize = 4_000;

fn echo_error(message: &str) -> String {
    match message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        None => message.to_string(),
        Some((end, _)) => format!("{}… (cut; the full summary is in the log)", &message[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::ReadFleet;
    use crate::memory::{MemoryFleet, MemoryService};
    use crate::summary::Reported;
    use serde_json::json;

    fn friday_evening() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T21:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn a_malformed_payload_makes_no_aws_call() {
        let fleet = MemoryFleet::new();
        let config = Config::from_lookup(|_| None).unwrap();
        let err = handle(Mode::ScaleDown, &config, &fleet, json!({"dryrun": true}), friday_evening(), None)
            .await
            .unwrap_err();
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
        let err = handle(Mode::ScaleDown, &config, &fleet, json!({}), friday_evening(), None).await.unwrap_err();
        assert_eq!(err.error_type, "ServicesFailed");
        assert!(err
            .error_message
            .starts_with("1 service(s) failed: dev/a: ecs:TagResource failed (AccessDeniedException)"));
        assert_eq!(fleet.service("dev", "b").desired, 0, "the other service is still scaled down");
    }

    #[tokio::test]
    async fn services_the_deadline_leaves_untouched_fail_the_invocation() {
        let fleet = MemoryFleet::new();
        fleet.add_cluster("dev", &[("Environment", "dev")]);
        fleet.add_service(MemoryService::new("dev", "a", 1));
        let config = Config::from_lookup(|_| None).unwrap();
        let past = Some(Instant::now());
        let err = handle(Mode::ScaleDown, &config, &fleet, json!({}), friday_evening(), past).await.unwrap_err();
        assert_eq!(err.error_type, "ServicesFailed");
        assert!(err.error_message.contains("dev/a: not reached before the deadline"), "{}", err.error_message);
        assert_eq!(fleet.writes(), 0);
    }

    /// What a schedule's `{}` does in production: the real clock, with its nanoseconds, whatever
    /// the hour (`never` makes "asleep now" true at any time).
    fn asleep_at_any_hour() -> Config {
        Config::from_lookup(|k| match k {
            "DEFAULT_SCHEDULE" => Some("never".into()),
            "GRACE_PERIOD_MINUTES" => Some("0".into()),
            _ => None,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn the_real_clock_survives_the_saved_state_round_trip() {
        let raw = Utc::now();
        for (clock, payload) in [
            // Exactly what `serve` passes, and the raw clock a caller might pass instead.
            (crate::clock::now(), json!({})),
            (raw, json!({})),
            (
                raw,
                json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "123456789012", "time": "2026-12-01T07:41:15Z", "region": "us-east-1",
                "resources": [], "detail": {}}),
            ),
            (raw, json!({"now": crate::plan::rfc3339(raw).replace('Z', ".987654321Z")})),
        ] {
            let fleet = MemoryFleet::new();
            fleet.add_cluster("dev", &[("Environment", "dev")]);
            // Deployed later in the same second as the run's whole-second `now`: with a grace
            // period of 0 it may sleep (ECS stamps deployments in milliseconds).
            let mut service = MemoryService::new("dev", "a", 2);
            service.last_deployed_at = Some(crate::clock::whole_seconds(raw) + chrono::Duration::milliseconds(999));
            fleet.add_service(service);
            let summary = handle(Mode::ScaleDown, &asleep_at_any_hour(), &fleet, payload.clone(), clock, None)
                .await
                .unwrap_or_else(|e| panic!("{payload}: {}", e.error_message));
            assert_eq!(summary.count(Reported::ScaledDown), 1, "{payload}: {:?}", summary.services);
            let tag = fleet.service("dev", "a").tags["cost-saver:saved"].clone();
            let saved = crate::saved::SavedState::parse(&tag).unwrap();
            assert_eq!(saved.at, crate::clock::whole_seconds(raw), "{payload}: {tag}");
            assert_eq!(summary.now, crate::plan::rfc3339(raw));

            let always = Config::from_lookup(|k| (k == "DEFAULT_SCHEDULE").then(|| "always".into())).unwrap();
            let up = handle(Mode::ScaleUp, &always, &fleet, json!({}), Utc::now(), None).await.unwrap();
            assert_eq!(up.count(Reported::Restored), 1, "{payload}: {:?}", up.services);
            assert_eq!(fleet.service("dev", "a").desired, 2);
            assert!(!fleet.service("dev", "a").tags.contains_key("cost-saver:saved"));
        }
    }

    #[test]
    fn the_deadline_keeps_a_margin_from_the_lambda_timeout() {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let left = run_deadline(now_ms + 300_000).unwrap().saturating_duration_since(Instant::now());
        assert!((209..=210).contains(&left.as_secs()), "{left:?}");
        let short = run_deadline(now_ms + 10_000).unwrap().saturating_duration_since(Instant::now());
        assert!((4..=5).contains(&short.as_secs()), "{short:?}");
        assert!(run_deadline(now_ms - 1_000).unwrap() <= Instant::now());
        // What cargo lambda watch sends: the timeout, not an instant.
        assert_eq!(run_deadline(600_000), None);
    }

    fn url_event(body: &str) -> Value {
        json!({
            "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/"}}, "body": body, "isBase64Encoded": false
        })
    }

    fn wake_fleet() -> MemoryFleet {
        let fleet = MemoryFleet::new();
        fleet.add_cluster("previews", &[("Environment", "preview")]);
        fleet.add_cluster("prod", &[("Environment", "prod")]);
        fleet.add_service(
            MemoryService::new("previews", "web", 0).tag("cost-saver:saved", "desired=2 at=2026-11-20T20:00:00Z"),
        );
        fleet.add_service(MemoryService::new("prod", "db", 2));
        fleet
    }

    #[tokio::test]
    async fn wake_through_a_function_url_answers_with_http_statuses() {
        let config = Config::from_lookup(|_| None).unwrap();
        let fleet = wake_fleet();
        let status = |v: &Value| v["statusCode"].as_u64().unwrap();
        let body = |v: &Value| serde_json::from_str::<Value>(v["body"].as_str().unwrap()).unwrap();

        let ok = handle_wake(&config, &fleet, url_event(r#"{"cluster":"previews","hours":2}"#), friday_evening(), None)
            .await
            .unwrap();
        assert_eq!(status(&ok), 200, "{ok}");
        assert_eq!(body(&ok)["until"], "2026-11-20T23:00:00Z");
        assert_eq!(body(&ok)["counts"]["restored"], 1);
        assert_eq!(fleet.service("previews", "web").desired, 2);

        let writes = fleet.writes();
        for (request, want, kind) in [
            ("{not json", 400, "InvalidPayload"),
            (r#"{"cluster":"prod","hours":2}"#, 403, "Protected"),
            (r#"{"cluster":"gone","hours":2}"#, 404, "NotFound"),
            (r#"{"cluster":"previews","hours":500}"#, 400, "InvalidPayload"),
        ] {
            let answer = handle_wake(&config, &fleet, url_event(request), friday_evening(), None).await.unwrap();
            assert_eq!(status(&answer), want, "{request}: {answer}");
            assert_eq!(body(&answer)["errorType"], kind);
        }
        assert_eq!(fleet.writes(), writes);
    }

    #[tokio::test]
    async fn wake_invoked_directly_returns_typed_errors() {
        let config = Config::from_lookup(|_| None).unwrap();
        let fleet = wake_fleet();
        let err = handle_wake(&config, &fleet, json!({"cluster": "prod", "hours": 1}), friday_evening(), None)
            .await
            .unwrap_err();
        assert_eq!(err.error_type, "Protected");
        assert!(err.error_message.contains("prod/db"), "{}", err.error_message);
        let ok = handle_wake(
            &config,
            &fleet,
            json!({"cluster": "previews", "service": "web", "hours": 1}),
            friday_evening(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(ok["kept_alive"][0]["until"], "2026-11-20T22:00:00Z");
    }
}
