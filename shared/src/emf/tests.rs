use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::plan::Mode;
use crate::savings::Savings;
use crate::summary::Caller;

/// The structure the EMF specification requires (CloudWatch_Embedded_Metric_Format_Specification):
/// `_aws` with a numeric `Timestamp` and an array of MetricDirectives; each directive a
/// `Namespace` string of 1-255 characters, `Dimensions` an array of DimensionSets of at most 30
/// member names whose root values are strings, `Metrics` at most 100 definitions whose `Name`
/// names a root member holding a number (or an array of at most 100 numbers), `Unit` one of
/// CloudWatch's units when given, and `StorageResolution` 1 or 60 when given.
fn validate(doc: &Value) -> Result<(), String> {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let root = doc.as_object().ok_or("the document is not a JSON object")?;
    let aws = root.get("_aws").and_then(Value::as_object).ok_or("`_aws` is missing or not an object")?;
    let ts = aws.get("Timestamp").ok_or("`_aws.Timestamp` is missing")?;
    if !ts.is_u64() {
        return Err(format!("`_aws.Timestamp` {ts} is not milliseconds since the epoch"));
    }
    let directives =
        aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("`_aws.CloudWatchMetrics` is not an array")?;
    for d in directives {
        let ns = d.get("Namespace").and_then(Value::as_str).ok_or("a directive has no `Namespace` string")?;
        if ns.is_empty() || ns.chars().count() > 255 {
            return Err(format!("Namespace `{ns}` is not 1-255 characters"));
        }
        let sets = d.get("Dimensions").and_then(Value::as_array).ok_or("`Dimensions` is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a DimensionSet is not an array")?;
            if set.len() > 30 {
                return Err("a DimensionSet has more than 30 dimensions".into());
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension reference is not a string")?;
                if !root.get(name).is_some_and(Value::is_string) {
                    return Err(format!("dimension `{name}` has no string value on the root"));
                }
            }
        }
        let metrics = d.get("Metrics").and_then(Value::as_array).ok_or("`Metrics` is not an array")?;
        if metrics.len() > 100 {
            return Err("more than 100 metric definitions".into());
        }
        for m in metrics {
            let name = m.get("Name").and_then(Value::as_str).ok_or("a metric definition has no `Name`")?;
            let numeric = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(a)) => a.len() <= 100 && a.iter().all(Value::is_number),
                _ => false,
            };
            if !numeric {
                return Err(format!("metric `{name}` has no numeric value on the root"));
            }
            if let Some(unit) = m.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    return Err(format!("metric `{name}` has unit {unit}, not a CloudWatch unit"));
                }
            }
            if let Some(r) = m.get("StorageResolution") {
                if r != 1 && r != 60 {
                    return Err(format!("metric `{name}` has storage resolution {r}"));
                }
            }
        }
    }
    Ok(())
}

fn summary(mode: Mode) -> Summary {
    let counts = BTreeMap::from([("scaled_down", 3), ("kept_asleep", 1), ("skipped", 2)]);
    Summary {
        caller: Caller::Run(mode),
        dry_run: false,
        force: false,
        now: "2026-11-20T21:00:00Z".into(),
        counts,
        aws_calls: BTreeMap::new(),
        aws_retries: BTreeMap::from([("ecs:UpdateService".into(), 4), ("tagging:GetResources".into(), 1)]),
        second_passes: 0,
        savings: Savings { asleep_services: 4, hourly_usd_avoided: 0.1975, usd_saved: 0.0, ..Savings::default() },
        services: vec![],
        services_omitted: 0,
        warnings: vec![],
        routing: vec![],
        targets: vec![],
    }
}

#[test]
fn a_run_s_metrics_are_a_valid_emf_document() {
    let doc = document("ecs-cost-saver-scale-down", &summary(Mode::ScaleDown), 1_795_208_400_000);
    validate(&doc).unwrap();
    assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ECSCostSaver");
    assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Function"]]));
    assert_eq!(doc["Function"], "ecs-cost-saver-scale-down");
    assert_eq!(doc["ServicesAsleep"], 4.0);
    assert_eq!(doc["ServicesPutToSleep"], 4.0, "scaled down and kept asleep");
    assert_eq!(doc["ServicesSkipped"], 2.0);
    assert_eq!(doc["ServicesFailed"], 0.0);
    assert_eq!(doc["ThrottledRetries"], 5.0);
    assert_eq!(doc["EstimatedHourlySavings"], 0.1975);
    let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    // Scale-down sees the whole scope, so awake is known too; TargetsFailed is only on TARGETS.
    assert_eq!(names.len(), METRICS.len() - 1, "{names:?}");
    assert!(!names.contains(&"TargetsFailed"));
    // One line: the log agent reads EMF per log event.
    assert!(!doc.to_string().contains('\n'));
}

#[test]
fn awake_is_left_out_when_the_run_saw_only_what_it_restores() {
    let doc = document("wake-fn", &summary(Mode::ScaleUp), 1);
    validate(&doc).unwrap();
    assert!(doc.get("ServicesAwake").is_none());
    let names = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
    assert!(!names.iter().any(|m| m["Name"] == "ServicesAwake"));
}

#[test]
fn the_validator_rejects_what_the_specification_forbids() {
    let good = document("f", &summary(Mode::Reconcile), 1);
    let mut broken = good.clone();
    broken["ServicesAsleep"] = "four".into();
    assert!(validate(&broken).unwrap_err().contains("ServicesAsleep"));
    let mut broken = good.clone();
    broken.as_object_mut().unwrap().remove("Function");
    assert!(validate(&broken).unwrap_err().contains("Function"));
    let mut broken = good.clone();
    broken["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Dollars".into();
    assert!(validate(&broken).unwrap_err().contains("Dollars"));
    let mut broken = good;
    broken["_aws"]["Timestamp"] = "now".into();
    assert!(validate(&broken).is_err());
}
