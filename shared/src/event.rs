//! The invocation payload: `{}`, the EventBridge Scheduler input object, or a classic EventBridge
//! "Scheduled Event" envelope, with optional `dry_run`, `now` and (scale-down) `force`.

use std::fmt;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Duration, Utc};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::whole_seconds;
use crate::plan::{Invocation, Mode};
use crate::text::{cut, echo};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid payload: {}", cut(.0, MAX_ERROR_CHARS))]
pub struct PayloadError(pub String);

/// How much of a payload error a message holds, whatever it quotes.
const MAX_ERROR_CHARS: usize = 600;

/// How far `now` may lie from the real clock: what-if runs look at the coming or the past year;
/// anything further is a typo or an attack (a year-10000 `at=` nothing could read back).
pub const NOW_WINDOW_DAYS: i64 = 366;

/// Parses a payload's text as JSON, refusing duplicate keys at any depth: with two `dry_run`s,
/// which one the sender meant is unknowable, so neither is taken.
pub fn parse_payload(text: &str) -> Result<Value, PayloadError> {
    serde_json::from_str::<Strict>(text).map(|s| s.0).map_err(|e| PayloadError(format!("not valid JSON: {e}")))
}

/// A JSON value that refuses duplicate object keys while it is read.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("the key `{}` appears twice", echo(&key))));
            }
        }
        Ok(Value::Object(object))
    }
}

/// Refuses `null` in any field of an object: `"dry_run": null` must not quietly mean "false".
pub fn refuse_nulls(object: &Value, what: &str) -> Result<(), PayloadError> {
    if let Value::Object(map) = object {
        if let Some((key, _)) = map.iter().find(|(_, v)| v.is_null()) {
            return Err(PayloadError(format!(
                "{what}: `{}` is null; leave the field out or give it a value",
                echo(key)
            )));
        }
    }
    Ok(())
}

/// `now` from a payload: an RFC 3339 time within `NOW_WINDOW_DAYS` of the real clock, to the
/// whole second (see `clock`).
pub fn parse_now(text: &str, clock: DateTime<Utc>) -> Result<DateTime<Utc>, PayloadError> {
    let now = DateTime::parse_from_rfc3339(text)
        .map_err(|_| {
            PayloadError(format!("`now` = {:?} is not an RFC 3339 time like 2026-11-20T20:00:00Z", echo(text)))
        })?
        .with_timezone(&Utc);
    if (now - clock).abs() > Duration::days(NOW_WINDOW_DAYS) {
        return Err(PayloadError(format!(
            "`now` = {:?} is more than {NOW_WINDOW_DAYS} days from the real clock ({})",
            echo(text),
            crate::plan::rfc3339(clock)
        )));
    }
    Ok(whole_seconds(now))
}

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
        if map.get("detail").is_some_and(Value::is_null) {
            return Err(PayloadError("`detail` of the EventBridge event is null; send {} for no options".into()));
        }
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
    // Whole seconds wherever `now` comes from: the clock of a Lambda has nanoseconds.
    let now = match options.now {
        None => whole_seconds(clock),
        Some(text) => parse_now(&text, clock)?,
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
    refuse_nulls(value, what)?;
    serde_json::from_value(value.clone()).map_err(|e| {
        PayloadError(format!(
            "{what}: {e} (accepted fields: `dry_run` (bool), `now` (RFC 3339), `force` (bool, scale-down))"
        ))
    })
}

pub(crate) fn kind(value: &Value) -> &'static str {
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
                // `account` and `region` need TARGETS; everything else parses without.
                let targets = (name == "wake-in-target.json").then(|| "111122223333:eu-west-1".to_string());
                let config =
                    crate::Config::from_lookup(|k| (k == "TARGETS").then(|| targets.clone()).flatten()).unwrap();
                let wake =
                    crate::wake::parse_wake(&payload, clock(), &config).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(parse_invocation(&payload, Mode::ScaleDown, clock(), false).is_err(), "{name} is wake-only");
                assert_eq!(wake.dry_run, name == "wake-dry-run.json", "{name}");
                seen += 1;
                continue;
            }
            if name == "local-env.json" {
                // Not an event: `sam local --env-vars`, one endpoint for every function, and
                // only variables the template declares (tests/contract checks the declaration).
                let vars = payload["Parameters"].as_object().unwrap_or_else(|| panic!("{name}: no Parameters"));
                assert_eq!(vars.keys().collect::<Vec<_>>(), ["AWS_ENDPOINT_URL"], "{name}");
                let url = vars["AWS_ENDPOINT_URL"].as_str().unwrap();
                assert!(url.starts_with("http://host.docker.internal:"), "{name}: {url}");
                seen += 1;
                continue;
            }
            if name.starts_with("alb-") {
                let request: aws_lambda_events::alb::AlbTargetGroupRequest =
                    serde_json::from_value(payload.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(request.request_context.elb.target_group_arn.is_some(), "{name}");
                assert!(parse_invocation(&payload, Mode::ScaleDown, clock(), false).is_err(), "{name} is waker-only");
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
        assert_eq!(seen, 17);
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

/// Issue 9: payloads an attacker (or a typo) sends.
#[cfg(test)]
mod hostile_tests {
    use super::*;
    use serde_json::json;

    fn clock() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T07:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn issue9_item2_now_far_from_the_real_clock_is_refused() {
        for far in ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00Z", "2027-11-25T07:00:00Z", "2025-11-21T07:00:00Z"]
        {
            let err = parse_invocation(&json!({ "now": far }), Mode::Reconcile, clock(), false).unwrap_err();
            assert!(err.to_string().contains("days from the real clock"), "{far}: {err}");
        }
        for near in ["2027-11-23T07:00:00Z", "2025-11-23T07:00:00Z", "2026-11-20T20:00:00Z"] {
            let inv = parse_invocation(&json!({ "now": near }), Mode::Reconcile, clock(), false).unwrap();
            assert_eq!(crate::plan::rfc3339(inv.now), near);
        }
    }

    #[test]
    fn issue9_item5_null_duplicate_keys_and_wrong_shapes_are_refused() {
        let err = parse_invocation(&json!({"dry_run": null}), Mode::ScaleDown, clock(), false).unwrap_err();
        assert!(err.to_string().contains("`dry_run` is null"), "{err}");
        let envelope = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"now": null}});
        assert!(parse_invocation(&envelope, Mode::ScaleDown, clock(), false).is_err());
        let envelope = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": null});
        assert!(parse_invocation(&envelope, Mode::ScaleDown, clock(), false).is_err());

        for text in [
            r#"{"dry_run": true, "dry_run": false}"#,
            r#"{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"dry_run": true, "dry_run": false}}"#,
            r#"{"tag": {"key": "a", "key": "b", "value": "c"}, "hours": 1}"#,
        ] {
            let err = parse_payload(text).unwrap_err();
            assert!(err.to_string().contains("appears twice"), "{text}: {err}");
        }
        assert_eq!(
            parse_payload(r#"{"a": [1, {"b": null}], "c": 1.5}"#).unwrap(),
            json!({"a": [1, {"b": null}], "c": 1.5})
        );
        assert!(parse_payload("{").is_err());
    }

    #[test]
    fn issue9_item8_errors_cut_what_they_echo() {
        let huge = "x".repeat(1 << 20);
        for payload in [json!({ "now": huge }), json!({ huge.clone(): true }), json!({ "dry_run": huge })] {
            let err = parse_invocation(&payload, Mode::ScaleDown, clock(), false).unwrap_err().to_string();
            assert!(err.len() < 1_000, "{} bytes: {}", err.len(), &err[..200]);
        }
        let err = parse_payload(&format!(r#"{{"{huge}": 1, "{huge}": 2}}"#)).unwrap_err().to_string();
        assert!(err.len() < 1_000, "{} bytes", err.len());
        assert_eq!(echo("short"), "short");
        assert!(echo(&huge).ends_with("(1048576 bytes in all)"));
    }
}
