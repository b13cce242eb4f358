//! Reads template.yaml and proves production is unreachable by construction: an explicit Deny on
//! resources tagged with a protected value covers every write the code performs, on every
//! function, and every write any policy allows.

use ecs_cost_saver::summary::Reported;
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
    let summary = run(&fleet, &config, Invocation { mode: Mode::ScaleUp, now, dry_run: false, force: false }, None)
        .await
        .unwrap();
    assert_eq!(summary.count(Reported::Restored), 1, "the planner restores it");
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
            // Changes nothing itself: what the spoke role may do carries the same guard there
            // (tests/contract/spoke.rs), and it is the only role the hub may assume.
            if action == "sts:AssumeRole" {
                let role = format!("{:?}", s["Resource"]);
                assert!(role.contains("role/${SpokeRoleName}"), "{role}");
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

/// Issues 10 and 17 (item 9): the tool deletes no rule and creates none; it modifies only rules
/// already carrying its tag, tags rules only with its own keys, creates waking groups only with
/// its marker and registers in or deletes only groups carrying it, all named like its groups.
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
    let statements = doc["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).unwrap().clone();
    let all_actions: Vec<String> = statements
        .iter()
        .flat_map(|s| match &s["Action"] {
            Json::String(a) => vec![a.clone()],
            Json::Array(list) => list.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            _ => vec![],
        })
        .collect();
    for never in
        ["elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule", "elasticloadbalancing:RemoveTags"]
    {
        assert!(!all_actions.iter().any(|a| a == never), "{never} is allowed");
    }
    let create = by_sid("CreateMarkedWakingGroups");
    assert_eq!(create["Condition"]["StringEquals"]["aws:RequestTag/cost-saver:made-by"], "ecs-cost-saver");
    assert!(create["Resource"].as_str().unwrap().ends_with(":targetgroup/csw-*/*"));
    let use_ = by_sid("UseOnlyMarkedWakingGroups");
    assert_eq!(use_["Condition"]["StringEquals"]["aws:ResourceTag/cost-saver:made-by"], "ecs-cost-saver");
    assert!(use_["Resource"].as_str().unwrap().ends_with(":targetgroup/csw-*/*"));
    let tag = by_sid("TagRulesWithTheToolsKeysOnly");
    assert_eq!(
        tag["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"],
        serde_json::json!(["cost-saver:wakes", "cost-saver:wakes-forward*"])
    );
    let modify = by_sid("SwapOnlyRulesCarryingTheToolsTag");
    assert_eq!(modify["Condition"]["Null"]["aws:ResourceTag/cost-saver:wakes"], "false");
    let lb = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/previews/1";
    assert!(ecs_cost_saver::routing::waking_group_name(lb).starts_with("csw-"));
    assert_eq!(ecs_cost_saver::routing::MADE_BY, "ecs-cost-saver");
}

/// Issue 17, item 11: the waker's Lambda timeout is the one the code answers within, and longer
/// than one AWS operation's limit in the waker.
#[test]
fn the_waker_timeout_agrees_with_its_call_limits() {
    let t = template();
    let timeout = t["Resources"]["WakerFunction"]["Properties"]["Timeout"].as_u64().unwrap();
    assert_eq!(timeout, ecs_cost_saver::lambda::WAKER_TIMEOUT.as_secs());
    let limits = ecs_cost_saver::aws::Timeouts::waker();
    assert!(limits.operation.as_secs() + 3 < timeout, "{limits:?}");
}

/// Issue 17, item 8: the waker's concurrency is bounded by default, to one environment: the
/// burst test (`waker/burst_tests.rs`) shows that one environment restores a service once
/// however many requests arrive together.
#[test]
fn the_waker_runs_at_most_waker_concurrency_environments() {
    let t = template();
    let reserved = &t["Resources"]["WakerFunction"]["Properties"]["ReservedConcurrentExecutions"];
    let Value::Tagged(choice) = reserved else { panic!("not an !If: {reserved:?}") };
    assert_eq!(choice.tag, "!If");
    let branches = choice.value.as_sequence().unwrap();
    assert_eq!(branches[0].as_str(), Some("ReserveOne"));
    let Value::Tagged(r) = &branches[1] else { panic!("{branches:?}") };
    assert!(r.tag == "!Ref" && r.value.as_str() == Some("WakerConcurrency"), "{r:?}");
    assert_eq!(param_default(&t, "WakerConcurrency"), "1");
    for (value, ok) in [("1", true), ("100", true), ("0", false), ("101", false), ("-1", false), ("", false)] {
        assert_eq!(template_accepts(&t, "WakerConcurrency", value), ok, "{value:?}");
    }
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
    let mut log_widgets = 0;
    for w in body["widgets"].as_array().unwrap() {
        if w["type"] == "log" {
            // Environments are no dimension (cardinality): their widget reads the lines the
            // functions log for each one.
            let query = w["properties"]["query"].as_str().unwrap();
            let message = format!("fields.message = '{}'", ecs_cost_saver::emf::ENVIRONMENT_SAVINGS);
            assert!(query.contains(&message) && query.contains("by fields.environment"), "{query}");
            assert!(query.contains("fields.hourly_usd_avoided") && query.contains("SOURCE '/aws/lambda/x'"), "{query}");
            log_widgets += 1;
            continue;
        }
        for m in w["properties"]["metrics"].as_array().unwrap() {
            // Over TARGETS: a search over the per-target dimension set the functions emit.
            if let Some(search) = m[0]["expression"].as_str() {
                let schema = format!(
                    "{{{NAMESPACE},{},{DIMENSION},{}}}",
                    ecs_cost_saver::emf::ACCOUNT_DIMENSION,
                    ecs_cost_saver::emf::REGION_DIMENSION
                );
                assert!(search.starts_with(&format!("SEARCH('{schema} MetricName=\"")), "{search}");
                let name = search.split("MetricName=\"").nth(1).unwrap().split('"').next().unwrap();
                assert!(emitted.contains(name), "{name} is not emitted");
                shown.insert(name);
                continue;
            }
            assert_eq!(m[0], NAMESPACE);
            assert_eq!(m[2], DIMENSION);
            let name = m[1].as_str().unwrap();
            assert!(emitted.contains(name), "{name} is not emitted");
            shown.insert(name);
        }
    }
    assert_eq!(log_widgets, 1, "the top environments by cost avoided");
    for needed in
        ["ServicesAsleep", "ServicesAwake", "EstimatedHourlySavings", "DollarsSaved", "ServicesWokenByRequest"]
    {
        assert!(shown.contains(needed), "the dashboard must show {needed}");
    }
    for needed in ["TargetsFailed", "ServicesFailed"] {
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

/// Whether the template lets a deployer give `value` to `parameter`.
fn template_accepts(t: &Value, parameter: &str, value: &str) -> bool {
    let p = &t["Parameters"][parameter];
    assert!(p.is_mapping(), "no parameter {parameter}");
    assert_eq!(p["Type"].as_str(), Some("String"), "{parameter}: a Number would also take 1.5");
    if let Some(values) = p["AllowedValues"].as_sequence() {
        return values.iter().any(|v| v.as_str() == Some(value));
    }
    let pattern = p["AllowedPattern"].as_str().unwrap_or_else(|| panic!("{parameter} has no pattern"));
    // CloudFormation matches the whole value; the patterns say so themselves.
    assert!(pattern.starts_with('^') && pattern.ends_with('$'), "{parameter}: {pattern}");
    regex_lite::Regex::new(pattern).unwrap().is_match(value)
}

fn functions_accept(variable: &str, value: &str) -> bool {
    Config::from_lookup(|name| (name == variable).then(|| value.to_string())).is_ok()
}

/// Each parameter the functions parse, the variable it feeds, edge values the template must let
/// through (the functions must accept each: a deploy that passes must never stop every function at
/// start-up) and values the functions refuse (the template must refuse each too).
const EDGES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "ScopeTagKey",
        "SCOPE_TAG_KEY",
        &["Environment", "a", "env:stage/name_1.2@x+y=z-w", "a b", "aws:cloudformation:stack-name"],
        &["a,b", "{\"a\"}"],
    ),
    ("ScopeTagValues", "SCOPE_TAG_VALUES", &["preview,dev", "qa", "x+y=z", "a.b:c/d@e_f-g"], &[",", ",,"]),
    ("ProtectedTagValues", "PROTECTED_TAG_VALUES", &["prod,production,live", "p"], &[",", ",,"]),
    (
        "GracePeriodMinutes",
        "GRACE_PERIOD_MINUTES",
        &["0", "9", "10", "99", "100", "999", "1000", "9999", "10000", "10079", "10080"],
        &["10081", "10090", "10100", "11000", "20000", "99999", "1.5", "-1", "1e3", "15 m"],
    ),
    ("DryRun", "DRY_RUN", &["true", "false"], &["yes", "on"]),
    (
        "Targets",
        "TARGETS",
        &[
            "",
            "111122223333:eu-west-1",
            "111122223333:*",
            "ou-ab12-cdef3456:us-gov-west-1",
            "111122223333:eu-west-1, 444455556666:ap-southeast-2 ,ou-ab12-cdef3456:us-east-1",
        ],
        &[
            "111122223333",
            "11112222333:eu-west-1",
            "111122223333:eu-west",
            "111122223333:EU-WEST-1",
            "ou-ab12:eu-west-1",
            "ou-ab12-cdef3456:*",
            "111122223333:eu-west-1;444455556666:eu-west-1",
        ],
    ),
    (
        "SpokeRoleName",
        "SPOKE_ROLE_NAME",
        &["ecs-cost-saver-spoke", "a", "Role+=,.@_-1"],
        &["a/b", "role name", "ecs-cost-saver-spoke-with-a-name-that-is-far-too-long-for-iam-to-take-it"],
    ),
    (
        "MaxWakeHours",
        "MAX_WAKE_HOURS",
        &["1", "9", "10", "99", "100", "699", "700", "739", "740", "744"],
        &["0", "745", "750", "800", "999", "1000", "1.5"],
    ),
    ("WakeOn", "WAKE_ON", &["auto", "visit", "click"], &["Click", "clicks", "off"]),
    (
        "EnvironmentTagKeys",
        "ENVIRONMENT_TAG_KEYS",
        &["none", "cost-saver:environment,aws:cloudformation:stack-name", "app", "a,b,c,d,e,f,g,h,i,j", "team env"],
        &["a,b,c,d,e,f,g,h,i,j,k", "a{b}", "a,{b}"],
    ),
    (
        "WakeOnRequestMinutes",
        "WAKE_ON_REQUEST_MINUTES",
        &["1", "9", "10", "99", "100", "999", "1000", "1299", "1300", "1399", "1400", "1439", "1440"],
        &["0", "1441", "1450", "1500", "2000", "9999", "1.5"],
    ),
    (
        "IdleAfter",
        "IDLE_AFTER",
        &[
            "off", "5m", "9m", "10m", "99m", "9999m", "10000m", "10079m", "10080m", "1h", "9h", "10h", "99h", "100h",
            "159h", "160h", "168h",
        ],
        &[
            "4m", "0m", "10081m", "10090m", "10100m", "20000m", "0h", "169h", "170h", "200h", "999h", "1.5h", "90",
            "m", "h", "90 m",
        ],
    ),
    (
        "PriceX86VcpuHour",
        "PRICE_X86_VCPU_HOUR",
        &["0", "0.0", "0.04048", "99.999", "100", "100.0"],
        &["100.5", "101", "1e3", "-1", "inf", "NaN"],
    ),
    ("PriceX86GbHour", "PRICE_X86_GB_HOUR", &["0", "0.004445", "100.000"], &["100.01", "200"]),
    ("PriceArmVcpuHour", "PRICE_ARM_VCPU_HOUR", &["0", "0.03238", "100"], &["100.01", "200"]),
    ("PriceArmGbHour", "PRICE_ARM_GB_HOUR", &["0", "0.00356", "100"], &["100.01", "200"]),
];

/// What a deploy lets through, the functions accept: every edge of every parameter's pattern or
/// allowed values, fed to the functions' own parser (`IdleAfter=4m` once passed the template and
/// stopped every function at start-up).
#[test]
fn every_parameter_the_template_accepts_the_functions_accept() {
    let t = template();
    let long_key = "k".repeat(128);
    let too_long_key = "k".repeat(129);
    let extra: [(&str, &str, &str, bool); 2] =
        [("ScopeTagKey", "SCOPE_TAG_KEY", &long_key, true), ("ScopeTagKey", "SCOPE_TAG_KEY", &too_long_key, false)];
    let listed = EDGES.iter().flat_map(|(p, v, ok, bad)| {
        ok.iter().map(move |x| (*p, *v, *x, true)).chain(bad.iter().map(move |x| (*p, *v, *x, false)))
    });
    for (parameter, variable, value, accepted) in listed.chain(extra) {
        if accepted {
            assert!(template_accepts(&t, parameter, value), "{parameter} should accept {value:?}");
            assert!(functions_accept(variable, value), "{parameter} accepts {value:?} but {variable} refuses it");
        } else {
            assert!(!functions_accept(variable, value), "{variable} accepts {value:?}: not an edge");
            assert!(!template_accepts(&t, parameter, value), "{parameter} accepts {value:?}, which {variable} refuses");
        }
    }
    // Every parameter that feeds a variable through !Ref and limits its values is listed above.
    let variables = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping().unwrap();
    for (variable, source) in variables {
        let Value::Tagged(r) = source else { continue };
        let Some(parameter) = r.value.as_str().filter(|_| r.tag == "!Ref") else { continue };
        let limited = t["Parameters"][parameter].get("AllowedPattern").is_some()
            || t["Parameters"][parameter].get("AllowedValues").is_some();
        let covered = EDGES.iter().any(|(p, v, _, _)| *p == parameter && Some(*v) == variable.as_str());
        assert!(!limited || covered, "{parameter} -> {variable:?} has no edge values in EDGES");
    }
}

/// `DEFAULT_SCHEDULE` is built from `WorkDays`, `WorkDayStart` and `WorkDayEnd`: every
/// combination of their edges parses, except a start equal to the end, which the template's rule
/// refuses.
#[test]
fn the_working_hours_the_template_accepts_make_a_schedule_the_functions_accept() {
    let t = template();
    let days = ["MON", "SUN", "MON-FRI", "SUN-THU", "FRI-MON", "SAT-SUN", "MON-MON"];
    let times = ["00:00", "00:01", "07:30", "08:00", "19:59", "20:00", "23:59"];
    for d in days {
        assert!(template_accepts(&t, "WorkDays", d), "{d}");
        for start in times {
            for end in times {
                assert!(template_accepts(&t, "WorkDayStart", start) && template_accepts(&t, "WorkDayEnd", end));
                let schedule = format!("{d} {start}-{end}");
                assert_eq!(functions_accept("DEFAULT_SCHEDULE", &schedule), start != end, "{schedule}");
            }
        }
    }
    for bad in ["24:00", "8:00", "08:60", "0800"] {
        assert!(!template_accepts(&t, "WorkDayStart", bad) && !template_accepts(&t, "WorkDayEnd", bad), "{bad}");
    }
    assert!(!template_accepts(&t, "WorkDays", "MON,FRI"));
    let rule = &t["Rules"]["WorkingHoursHaveALength"]["Assertions"][0]["Assert"];
    let text = serde_yaml::to_string(rule).unwrap();
    assert!(text.contains("!Not") && text.contains("WorkDayStart") && text.contains("WorkDayEnd"), "{text}");
    // The template builds the variable from exactly these three.
    let built = &t["Globals"]["Function"]["Environment"]["Variables"]["DEFAULT_SCHEDULE"];
    assert_eq!(untag(built).as_str(), Some("${WorkDays} ${WorkDayStart}-${WorkDayEnd}"));
}

/// Without `WakeOnRequest` the functions make no load balancer write, so none may be allowed.
#[test]
fn the_routing_policy_exists_only_with_wake_on_request() {
    let t = template();
    assert_eq!(t["Resources"]["RoutingPolicy"]["Condition"].as_str(), Some("WakeOnRequestOn"));
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        for p in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            let text = serde_yaml::to_string(p).unwrap();
            if text.contains("RoutingPolicy") {
                assert!(
                    matches!(p, Value::Tagged(i) if i.tag == "!If" && i.value[0].as_str() == Some("WakeOnRequestOn")),
                    "{}: RoutingPolicy attached without the WakeOnRequestOn condition: {text}",
                    name.as_str().unwrap()
                );
            }
        }
    }
}

/// Issue 18: the template declares the endpoint variable a `sam local --env-vars` file sets, and
/// its deployed value changes nothing: empty, which the functions unset before the SDK reads it
/// (an empty `AWS_ENDPOINT_URL` makes the SDK panic); under `sam local` with that value, a run
/// only plans.
#[test]
fn the_deployed_endpoint_variable_is_declared_and_means_unset() {
    let t = template();
    let variables = &t["Globals"]["Function"]["Environment"]["Variables"];
    // Literal values only: a `!Ref` is a parameter, which the other tests cover.
    let value = |name: &str| match &variables[name] {
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    assert_eq!(value("AWS_ENDPOINT_URL").as_deref(), Some(""), "declared, empty");
    assert_eq!(value("ALLOW_REAL_AWS_FROM_SAM_LOCAL").as_deref(), Some("false"));
    let deployed = |k: &str| value(k);
    assert_eq!(ecs_cost_saver::startup::empty_endpoint_variables(deployed), ["AWS_ENDPOINT_URL"]);
    assert_eq!(ecs_cost_saver::startup::sam_local_guard(deployed), None, "deployed: not sam local, nothing forced");
    let sam_local = |k: &str| if k == "AWS_SAM_LOCAL" { Some("true".to_string()) } else { value(k) };
    let why = ecs_cost_saver::startup::sam_local_guard(sam_local).expect("sam local without an endpoint only plans");
    assert!(why.starts_with("dry run: this is `sam local`"), "{why}");
    if let Err(e) = Config::from_lookup(value) {
        panic!("the functions start with the deployed values: {e}");
    }
}
