//! Issue 20 (first part): spoke.yaml, the role a hub deployment assumes in each account. Plain
//! CloudFormation (StackSets with service-managed permissions refuse the `AWS::Serverless`
//! transform), trusting only the hub's function roles, with exactly the fleet permissions the
//! single-account template grants its functions and the same production guard: no more.

use serde_yaml::Value;

fn load(file: &str) -> Value {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap().clone()
}

fn tagged<'a>(v: &'a Value, tag: &str) -> &'a Value {
    match v {
        Value::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("expected {tag}, found {other:?}"),
    }
}

#[test]
fn the_spoke_is_plain_cloudformation_with_one_role_and_its_two_policies() {
    let spoke = load("spoke.yaml");
    assert!(spoke.get("Transform").is_none(), "StackSets refuse transforms");
    let resources = spoke["Resources"].as_mapping().unwrap();
    let mut kinds: Vec<(String, String)> = resources
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v["Type"].as_str().unwrap().to_string()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("FleetAccessPolicy".to_string(), "AWS::IAM::ManagedPolicy".to_string()),
            ("ProtectedGuardPolicy".to_string(), "AWS::IAM::ManagedPolicy".to_string()),
            ("SpokeRole".to_string(), "AWS::IAM::Role".to_string()),
        ]
    );
    let role = &spoke["Resources"]["SpokeRole"]["Properties"];
    assert_eq!(tagged(&role["RoleName"], "!Ref").as_str(), Some("SpokeRoleName"));
    assert!(role.get("Policies").is_none(), "no inline permissions");
    let attached: Vec<&str> =
        role["ManagedPolicyArns"].as_sequence().unwrap().iter().map(|p| tagged(p, "!Ref").as_str().unwrap()).collect();
    assert_eq!(attached, ["FleetAccessPolicy", "ProtectedGuardPolicy"]);
    // Trusted by the hub's function roles, by their ARNs (account and role name), and only when
    // the operator names them, the roles that run the command line over the organization.
    let trust = role["AssumeRolePolicyDocument"]["Statement"].as_sequence().unwrap();
    assert_eq!(trust.len(), 2);
    let operators = tagged(&trust[1], "!If").as_sequence().unwrap();
    assert_eq!(operators[0].as_str(), Some("HasOperators"));
    assert_eq!(tagged(&operators[1]["Principal"]["AWS"], "!Ref").as_str(), Some("OperatorRoleArns"));
    assert_eq!(operators[1]["Action"].as_str(), Some("sts:AssumeRole"));
    assert_eq!(tagged(&operators[2], "!Ref").as_str(), Some("AWS::NoValue"));
    assert_eq!(spoke["Parameters"]["OperatorRoleArns"]["Default"].as_str(), Some(""));
    assert_eq!(trust[0]["Effect"].as_str(), Some("Allow"));
    assert_eq!(trust[0]["Action"].as_str(), Some("sts:AssumeRole"));
    let principal = trust[0]["Principal"].as_mapping().unwrap();
    assert_eq!(principal.len(), 1, "{principal:?}");
    assert_eq!(tagged(&trust[0]["Principal"]["AWS"], "!Ref").as_str(), Some("HubFunctionRoleArns"));
}

#[test]
fn the_spoke_role_has_exactly_the_single_account_fleet_permissions_and_guard() {
    let (spoke, single) = (load("spoke.yaml"), load("template.yaml"));
    // The fleet policy, plus the wake function's one extra write: the keep-alive tag.
    let mut expected = statements(&single["Resources"]["FleetAccessPolicy"]);
    let wake_inline: Vec<Value> = single["Resources"]["WakeFunction"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("Statement")?.as_sequence().cloned())
        .flatten()
        .collect();
    assert_eq!(wake_inline.len(), 1, "{wake_inline:?}");
    expected.extend(wake_inline);
    assert_eq!(statements(&spoke["Resources"]["FleetAccessPolicy"]), expected);
    assert_eq!(spoke["Resources"]["ProtectedGuardPolicy"], single["Resources"]["ProtectedGuardPolicy"]);
    // The guard reads the same parameters, with the same defaults and patterns.
    for name in ["ScopeTagKey", "ProtectedTagValues", "TagPrefix"] {
        assert_eq!(spoke["Parameters"][name], single["Parameters"][name], "{name}");
    }
    // The hub names its function roles for the spoke's trust.
    let roles = tagged(&single["Outputs"]["FunctionRoleArns"]["Value"], "!Join");
    let arns: Vec<&str> =
        roles[1].as_sequence().unwrap().iter().map(|r| tagged(r, "!GetAtt").as_str().unwrap()).collect();
    for function in ["ScaleDown", "ScaleUp", "Reconcile", "Wake"] {
        assert!(arns.contains(&format!("{function}FunctionRole.Arn").as_str()), "{arns:?}");
    }
    // The waker answers its own account's load balancers: no spoke trusts it.
    assert_eq!(arns.len(), 4, "{arns:?}");
}

/// The hub may assume the spoke role by its name and nothing else, list what TARGETS' wildcards
/// name, and has this only when TARGETS is set; the waker never gets it.
#[test]
fn the_hub_assumes_only_the_spoke_role_and_only_with_targets() {
    let single = load("template.yaml");
    let hub = &single["Resources"]["HubPolicy"];
    assert_eq!(hub["Condition"].as_str(), Some("HasTargets"));
    let statements = hub["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap();
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0]["Action"].as_str(), Some("sts:AssumeRole"));
    assert_eq!(
        tagged(&statements[0]["Resource"], "!Sub").as_str(),
        Some("arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}")
    );
    let reads: Vec<&str> = statements[1]["Action"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(
        reads,
        [
            "organizations:ListAccountsForParent",
            "organizations:ListOrganizationalUnitsForParent",
            "account:ListRegions"
        ]
    );
    for (name, function) in single["Resources"].as_mapping().unwrap() {
        if function["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let has = function["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| format!("{p:?}").contains("HubPolicy"));
        assert_eq!(has, name.as_str() != Some("WakerFunction"), "{name:?}");
    }
    let env = &single["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(tagged(&env["TARGETS"], "!Ref").as_str(), Some("Targets"));
    assert_eq!(tagged(&env["SPOKE_ROLE_NAME"], "!Ref").as_str(), Some("SpokeRoleName"));
    // One name, the same default and pattern in both templates.
    for field in ["Type", "Default", "AllowedPattern"] {
        let spoke = load("spoke.yaml");
        assert_eq!(
            single["Parameters"]["SpokeRoleName"][field], spoke["Parameters"]["SpokeRoleName"][field],
            "{field}"
        );
    }
}
