//! Reads template.yaml and proves production is unreachable by construction: an explicit Deny on
//! resources tagged with a protected value covers every write the code performs, on every
//! function, and every write any policy allows.

use std::collections::BTreeSet;

use ecs_cost_saver::aws::{READ_OPERATIONS, WRITE_OPERATIONS};
use ecs_cost_saver::Config;
use serde_json::Value as Json;
use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn param_default(t: &Value, name: &str) -> String {
    let d = &t["Parameters"][name]["Default"];
    d.as_str().map(str::to_string).unwrap_or_else(|| serde_yaml::to_string(d).unwrap().trim().to_string())
}

/// The guard's policy document with the template's default parameters substituted.
fn guard_policy(t: &Value) -> Json {
    let resource = &t["Resources"]["ProtectedGuardPolicy"];
    assert_eq!(resource["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
    let Value::Tagged(sub) = &resource["Properties"]["PolicyDocument"] else { panic!("PolicyDocument must be !Sub") };
    assert!(sub.tag == "!Sub", "PolicyDocument must be !Sub");
    let text = sub.value[0].as_str().unwrap();
    let protected = param_default(t, "ProtectedTagValues");
    let text = text
        .replace("${ScopeTagKey}", &param_default(t, "ScopeTagKey"))
        .replace("${TagPrefix}", &param_default(t, "TagPrefix"))
        .replace("${ProtectedValues}", &protected.split(',').collect::<Vec<_>>().join("\", \""));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("guard policy is not JSON after substitution: {e}\n{text}"))
}

/// The guard's Deny statements.
fn denies(policy: &Json) -> Vec<&Json> {
    policy["Statement"].as_array().unwrap().iter().filter(|s| s["Effect"] == "Deny").collect()
}

/// Every action some Deny statement names.
fn denied_actions(policy: &Json) -> BTreeSet<String> {
    denies(policy)
        .iter()
        .flat_map(|d| d["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect()
}

/// IAM's evaluation of the guard for one action on a resource with these tags: the operators the
/// guard uses (`StringEqualsIgnoreCase`, `Null`) on `aws:ResourceTag/...`, all of a statement's
/// conditions together. Anything else in the guard fails the test rather than being guessed at.
fn guard_denies(policy: &Json, action: &str, tags: &[(&str, &str)]) -> bool {
    let tag = |key: &str| {
        key.strip_prefix("aws:ResourceTag/").and_then(|k| tags.iter().find(|(t, _)| *t == k)).map(|(_, v)| *v)
    };
    denies(policy).iter().any(|d| {
        let names = d["Action"].as_array().unwrap().iter().any(|a| a == action);
        assert_eq!(d["Resource"], "*");
        names
            && d["Condition"].as_object().unwrap().iter().all(|(operator, keys)| {
                keys.as_object().unwrap().iter().all(|(key, want)| match operator.as_str() {
                    "StringEqualsIgnoreCase" => {
                        let have = tag(key);
                        want.as_array()
                            .unwrap()
                            .iter()
                            .any(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w.as_str().unwrap())))
                    }
                    "Null" => (want == "true") == tag(key).is_none(),
                    other => panic!("the guard uses {other}: teach this evaluator"),
                })
            })
    })
}

#[test]
fn the_guard_denies_every_write_on_protected_resources() {
    let t = template();
    let policy = guard_policy(&t);
    let denied = denied_actions(&policy);
    for op in WRITE_OPERATIONS {
        assert!(denied.contains(op), "{op} is not denied on protected resources");
        for value in ["prod", "PROD", "Production", "live"] {
            assert!(guard_denies(&policy, op, &[("Environment", value)]), "{op} on Environment={value}");
        }
        assert!(!guard_denies(&policy, op, &[("Environment", "dev")]), "{op} denied on a dev service");
        assert!(!guard_denies(&policy, op, &[]), "{op} denied on an untagged resource");
    }

    // Every condition names the scope tag and exactly the protected values the functions use.
    let config = Config::from_lookup(|_| None).unwrap();
    for deny in denies(&policy) {
        let condition =
            &deny["Condition"]["StringEqualsIgnoreCase"][format!("aws:ResourceTag/{}", config.scope_tag_key)];
        let values: Vec<&str> =
            condition.as_array().expect("condition on the scope tag").iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(values, config.protected_tag_values);
    }
    assert_eq!(param_default(&t, "ScopeTagKey"), config.scope_tag_key);
}

/// Issue 9, item 10: the planner restores a protected service that still carries saved state;
/// the guard must let exactly those writes through, and still deny tagging it.
#[tokio::test]
async fn issue9_item10_the_guard_allows_exactly_the_restore_of_a_protected_service() {
    use ecs_cost_saver::memory::{MemoryFleet, MemoryService};
    use ecs_cost_saver::model::{Bounds, Suspension};
    use ecs_cost_saver::{run::run, Invocation, Mode};

    let policy = guard_policy(&template());
    let config = Config::from_lookup(|_| None).unwrap();
    let saved_key = config.tags.saved.clone();
    let fleet = MemoryFleet::new();
    fleet.add_service(
        MemoryService::new("payments", "api", 0)
            .tag("Environment", "prod")
            .tag(&saved_key, "desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z")
            .autoscaled(Bounds::ASLEEP),
    );
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let summary =
        run(&fleet, &config, Invocation { mode: Mode::ScaleUp, now, dry_run: false, force: false }).await.unwrap();
    assert_eq!(summary.count("restored"), 1, "the planner restores it");
    let service = fleet.service("payments", "api");
    assert_eq!((service.desired, service.scaling.map(|b| (b.min, b.max))), (3, Some((1, 4))));
    assert_eq!(service.scaling.unwrap().suspended, Suspension::NONE);

    // Each write it made happened while the service still carried `saved` (removed last), and
    // the guard allows each of them then.
    let writes = fleet.log();
    assert_eq!(writes.len(), 3, "{writes:?}");
    let carrying = [("Environment", "prod"), (saved_key.as_str(), "desired=3")];
    for write in &writes {
        let action = write.split(' ').next().unwrap();
        assert!(!guard_denies(&policy, action, &carrying), "the guard denies {write}");
        assert!(guard_denies(&policy, action, &[("Environment", "prod")]), "{action} without saved state");
    }
    // Never a new tag on production, saved state or not.
    assert!(guard_denies(&policy, "ecs:TagResource", &carrying));
}

#[test]
fn every_function_carries_the_guard() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let mut functions = 0;
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        functions += 1;
        let policies = resource["Properties"]["Policies"].as_sequence().unwrap();
        let guarded = policies.iter().any(
            |p| matches!(p, Value::Tagged(r) if r.tag == "!Ref" && r.value.as_str() == Some("ProtectedGuardPolicy")),
        );
        assert!(guarded, "{} lacks the ProtectedGuardPolicy", name.as_str().unwrap());
    }
    assert_eq!(functions, 5);
}

/// Every write any Allow statement grants is one the guard denies on protected resources.
#[test]
fn no_policy_allows_a_write_the_guard_does_not_cover() {
    let t = template();
    let denied = denied_actions(&guard_policy(&t));
    let mut statements: Vec<&Value> = Vec::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if let Some(doc) = resource["Properties"]["PolicyDocument"].as_mapping() {
            statements.extend(doc.get("Statement").and_then(Value::as_sequence).into_iter().flatten());
        }
        for p in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            statements.extend(p.get("Statement").and_then(Value::as_sequence).into_iter().flatten());
        }
    }
    // Policies written as JSON strings (their condition keys depend on parameters).
    let json_docs: Vec<Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter_map(|r| match &r["Properties"]["PolicyDocument"] {
            Value::Tagged(sub) if sub.tag == "!Sub" => sub.value.as_str().map(substituted),
            _ => None,
        })
        .collect();
    for doc in &json_docs {
        statements.extend(doc.get("Statement").and_then(Value::as_sequence).into_iter().flatten());
    }
    let mut writes = 0;
    for s in statements.iter().filter(|s| s["Effect"].as_str() == Some("Allow")) {
        let actions: Vec<&str> = match untag(&s["Action"]) {
            Value::String(a) => vec![a.as_str()],
            Value::Sequence(list) => list.iter().map(|a| a.as_str().unwrap()).collect(),
            other => panic!("unexpected Action {other:?}"),
        };
        for action in actions {
            let verb = action.split(':').nth(1).unwrap_or(action);
            if ["Describe", "List", "Get"].iter().any(|read| verb.starts_with(read)) {
                continue;
            }
            writes += 1;
            assert!(denied.contains(action), "{action} is allowed but not denied on protected resources");
        }
    }
    assert!(writes >= WRITE_OPERATIONS.len(), "found only {writes} allowed writes");
}

/// A `!Sub` JSON policy with every `${...}` replaced by a placeholder, read as YAML (JSON is YAML).
fn substituted(text: &str) -> Value {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e + 1).unwrap_or(rest.len());
        out.push('x');
        rest = &rest[end..];
    }
    out.push_str(rest);
    serde_yaml::from_str(&out).unwrap_or_else(|e| panic!("policy is not JSON after substitution: {e}\n{out}"))
}

/// Issue 10: the tool may delete only rules carrying its tag, creates rules only with it, and
/// touches only target groups named like its waking groups.
#[test]
fn routing_writes_are_limited_to_the_tools_own_rules_and_groups() {
    let t = template();
    let Value::Tagged(sub) = &t["Resources"]["RoutingPolicy"]["Properties"]["PolicyDocument"] else {
        panic!("RoutingPolicy must be a !Sub JSON document")
    };
    let text = sub.value.as_str().unwrap().replace("${TagPrefix}", &param_default(&t, "TagPrefix"));
    let doc: Json = serde_json::from_str(
        &text.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "r").replace("${AWS::AccountId}", "1"),
    )
    .unwrap();
    let by_sid = |sid: &str| doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap().clone();
    let delete = by_sid("DeleteOnlyWakingRules");
    assert_eq!(delete["Condition"]["Null"]["aws:ResourceTag/cost-saver:wakes"], "false");
    let create = by_sid("CreateTaggedWakingRules");
    assert_eq!(create["Condition"]["Null"]["aws:RequestTag/cost-saver:wakes"], "false");
    let groups = by_sid("WakingTargetGroups");
    assert!(groups["Resource"].as_str().unwrap().ends_with(":targetgroup/csw-*/*"));
    assert!(ecs_cost_saver::routing::waking_group_name(
        &ecs_cost_saver::model::ServiceId::from_arn("arn:aws:ecs:us-east-1:1:service/c/s").unwrap()
    )
    .starts_with("csw-"));
}

/// Every read the adapter makes is allowed to every function (an AccessDenied on a read would
/// stop a whole run).
#[test]
fn every_read_the_code_makes_is_allowed() {
    let t = template();
    let policy = &t["Resources"]["FleetAccessPolicy"]["Properties"]["PolicyDocument"];
    let allowed: BTreeSet<&str> = policy["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow") && s["Resource"].as_str() == Some("*"))
        .flat_map(|s| s["Action"].as_sequence().into_iter().flatten().filter_map(Value::as_str))
        .collect();
    for op in READ_OPERATIONS {
        let action = op.replace("tagging:", "tag:");
        assert!(allowed.contains(action.as_str()), "{action} is not allowed by FleetAccessPolicy");
    }
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            let policies = resource["Properties"]["Policies"].as_sequence().unwrap();
            let has =
                policies.iter().any(|p| matches!(p, Value::Tagged(r) if r.value.as_str() == Some("FleetAccessPolicy")));
            assert!(has, "{} lacks FleetAccessPolicy", name.as_str().unwrap());
        }
    }
}

/// The alarm and the dashboard read metrics the functions actually emit: a renamed metric would
/// otherwise leave an alarm that can never fire.
#[test]
fn the_alarm_and_dashboard_use_the_metrics_the_functions_emit() {
    use ecs_cost_saver::emf::{DIMENSION, METRICS, NAMESPACE};
    let t = template();
    let emitted: BTreeSet<&str> = METRICS.iter().map(|(name, _)| *name).collect();

    let alarm = &t["Resources"]["FailuresAlarm"]["Properties"];
    let mut failed_functions = 0;
    for m in alarm["Metrics"].as_sequence().unwrap() {
        let metric = &m["MetricStat"]["Metric"];
        if metric["Namespace"].as_str() == Some(NAMESPACE) {
            assert!(emitted.contains(metric["MetricName"].as_str().unwrap()), "{metric:?}");
            assert_eq!(metric["Dimensions"][0]["Name"].as_str(), Some(DIMENSION));
            assert_eq!(metric["MetricName"].as_str(), Some("ServicesFailed"));
            failed_functions += 1;
        }
    }
    assert_eq!(failed_functions, 5, "every function's failures are alarmed");
    assert_eq!(alarm["Threshold"].as_f64(), Some(1.0));

    let Value::Tagged(sub) = &t["Resources"]["Dashboard"]["Properties"]["DashboardBody"] else {
        panic!("DashboardBody must be !Sub")
    };
    let mut body = sub.value[0].as_str().unwrap().to_string();
    for var in ["AWS::Region", "ScaleDown", "ScaleUp", "Reconcile", "Wake", "Waker"] {
        body = body.replace(&format!("${{{var}}}"), "x");
    }
    let body: Json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("dashboard is not JSON: {e}"));
    let mut shown = BTreeSet::new();
    for w in body["widgets"].as_array().unwrap() {
        for m in w["properties"]["metrics"].as_array().unwrap() {
            assert_eq!(m[0], NAMESPACE);
            assert_eq!(m[2], DIMENSION);
            let name = m[1].as_str().unwrap();
            assert!(emitted.contains(name), "{name} is not emitted");
            shown.insert(name);
        }
    }
    for needed in
        ["ServicesAsleep", "ServicesAwake", "EstimatedHourlySavings", "DollarsSaved", "ServicesWokenByRequest"]
    {
        assert!(shown.contains(needed), "the dashboard must show {needed}");
    }
}

/// Issue 9, item 11: scalable targets are writable as tightly as IAM allows: ECS's namespace and
/// the desired-count dimension (their ARNs carry random ids, not service names).
#[test]
fn issue9_item11_scalable_targets_only_on_the_ecs_desired_count_dimension() {
    let t = template();
    let policy = &t["Resources"]["FleetAccessPolicy"]["Properties"]["PolicyDocument"];
    let targets = policy["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Sid"].as_str() == Some("ChangeScalableTargets"))
        .unwrap();
    assert_eq!(targets["Action"].as_str(), Some("application-autoscaling:RegisterScalableTarget"));
    assert_eq!(targets["Condition"]["StringEquals"]["application-autoscaling:service-namespace"].as_str(), Some("ecs"));
    assert_eq!(
        targets["Condition"]["StringEquals"]["application-autoscaling:scalable-dimension"].as_str(),
        Some("ecs:service:DesiredCount")
    );
}
