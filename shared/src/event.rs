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
        let envelope: EventBridgeEvent<Value> =
            serde_json::from_value(payload.clone()).map_err(|e| PayloadError(format!("EventBridge envelope: {e}")))?;
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
        PayloadError(format!(
            "{what}: {e} (accepted fields: `dry_run` (bool), `now` (RFC 3339), `force` (bool, scale-down))"
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clock() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T20:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn empty_object_runs_for_real_now() {
        let inv = parse_invocation(&json!({}), Mode::ScaleDown, clock(), false).unwrap();
        assert_eq!(inv, Invocation { mode: Mode::ScaleDown, now: clock(), dry_run: false, force: false });
    }

    #[test]
    fn scheduler_input_with_options() {
        let inv = parse_invocation(
            &json!({"dry_run": true, "now": "2026-11-20T21:00:00+01:00", "force": true}),
            Mode::ScaleDown,
            clock(),
            false,
        )
        .unwrap();
        assert!(inv.dry_run && inv.force);
        assert_eq!(inv.now, clock());
    }

    #[test]
    fn classic_scheduled_event_envelope() {
        let envelope = json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-20T20:00:00Z",
            "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/x"], "detail": {}
        });
        let inv = parse_invocation(&envelope, Mode::ScaleUp, clock(), false).unwrap();
        assert_eq!(inv.mode, Mode::ScaleUp);
        assert!(!inv.dry_run);
        let mut with_detail = envelope.clone();
        with_detail["detail"] = json!({"dry_run": true});
        assert!(parse_invocation(&with_detail, Mode::ScaleUp, clock(), false).unwrap().dry_run);
    }

    #[test]
    fn dry_run_from_the_environment_cannot_be_switched_off() {
        let inv = parse_invocation(&json!({"dry_run": false}), Mode::ScaleDown, clock(), true).unwrap();
        assert!(inv.dry_run);
    }

    /// Every file in `events/` parses, for exactly the functions its README row names.
    #[test]
    fn every_sample_event_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
        let mut seen = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let payload: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if name.starts_with("wake-") {
                let config = crate::Config::from_lookup(|_| None).unwrap();
                let wake =
                    crate::wake::parse_wake(&payload, clock(), &config).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(parse_invocation(&payload, Mode::ScaleDown, clock(), false).is_err(), "{name} is wake-only");
                assert_eq!(wake.dry_run, name == "wake-dry-run.json", "{name}");
                seen += 1;
                continue;
            }
            let parse = |mode| parse_invocation(&payload, mode, clock(), false);
            let down = parse(Mode::ScaleDown).unwrap_or_else(|e| panic!("{name}: {e}"));
            let friday = clock();
            let at_ = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
            let monday = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z").unwrap().with_timezone(&Utc);
            let (dry_run, force, now) = match name.as_str() {
                "scheduler-input.json" | "scheduled-event.json" => (false, false, friday),
                "dry-run.json" => (true, false, friday),
                "what-if-friday-20h.json" => (true, false, friday),
                "friday-evening.json" => (false, false, friday),
                "friday-night.json" => (false, false, at_("2026-11-20T23:00:00Z")),
                "monday-morning.json" => (false, false, monday),
                "force-dry-run.json" => (true, true, friday),
                "force.json" => (false, true, friday),
                other => panic!("{other}: add its expectation here and a row in events/README.md"),
            };
            assert_eq!((down.dry_run, down.force, down.now), (dry_run, force, now), "{name}");
            assert_eq!(parse(Mode::ScaleUp).is_ok(), !force, "{name}: force files are for scale-down only");
            seen += 1;
        }
        assert_eq!(seen, 12);
    }

    #[test]
    fn malformed_payloads_are_refused_with_a_reason() {
        for (payload, mode, needle) in [
            (json!([]), Mode::ScaleDown, "JSON object, got an array"),
            (json!("go"), Mode::ScaleDown, "got a string"),
            (json!(null), Mode::ScaleDown, "got null"),
            (json!({"dryrun": true}), Mode::ScaleDown, "unknown field `dryrun`"),
            (json!({"dry_run": "yes"}), Mode::ScaleDown, "dry_run"),
            (json!({"now": "Friday 8pm"}), Mode::ScaleDown, "RFC 3339"),
            (json!({"force": true}), Mode::ScaleUp, "only accepted by scale-down"),
            (
                json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": [1]}),
                Mode::ScaleDown,
                "must be a JSON object",
            ),
        ] {
            let err = parse_invocation(&payload, mode, clock(), false).expect_err(&payload.to_string());
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }
}
