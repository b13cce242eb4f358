//! The invocation payload: `{}`, the EventBridge Scheduler input object, or a classic EventBridge
//! "Scheduled Event" envelope, with optional `dry_run`, `now` and (scale-down) `force`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::plan::{Invocation, Mode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid payload: {0}")]
pub struct PayloadError(pub String);

/// The options a payload may carry. Unknown fields are refused: a misspelt `dryrun` must not
/// quietly become a real run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    dry_run: Option<bool>,
    now: Option<String>,
    force: Option<bool>,
}

/// Reads a payload. `clock` is the time to use when the payload has no `now`; `dry_run_default`
/// comes from `DRY_RUN`.
pub fn parse_invocation(
    payload: &Value,
    mode: Mode,
    clock: DateTime<Utc>,
    dry_run_default: bool,
) -> Result<Invocation, PayloadError> {
    let Value::Object(map) = payload else {
        return Err(PayloadError(format!("expected a JSON object, got {}", kind(payload))));
    };
    let options: Options = if map.get("detail-type").is_some() && map.get("source").is_some() {
        let envelope: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
            .map_err(|e| PayloadError(format!("EventBridge envelope: {e}")))?;
        match envelope.detail {
            Value::Null => Options::default(),
            detail => from_object(&detail, "`detail` of the EventBridge event")?,
        }
    } else {
        from_object(payload, "payload")?
    };
    if options.force.is_some() && mode != Mode::ScaleDown {
        return Err(PayloadError(format!("`force` is only accepted by scale-down, not {}", mode.name())));
    }
    let now = match options.now {
        None => clock,
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map_err(|_| PayloadError(format!("`now` = {text:?} is not an RFC 3339 time like 2026-11-20T20:00:00Z")))?
            .with_timezone(&Utc),
    };
    Ok(Invocation {
        mode,
        now,
        // `DRY_RUN=true` on the function cannot be overridden by a payload: it is the safety net.
        dry_run: dry_run_default || options.dry_run.unwrap_or(false),
        force: options.force.unwrap_or(false),
    })
}

fn from_object(value: &Value, what: &str) -> Result<Options, PayloadError> {
    if !value.is_object() {
        return Err(PayloadError(format!("{what} must be a JSON object, got {}", kind(value))));
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        PayloadError(format!("{what}: {e} (accepted fields: `dry_run` (bool), `now` (RFC 3339), `force` (bool, scale-down))"))
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
