//! Many accounts: what `TARGETS` names (account and region pairs, an account's every enabled
//! region, an organizational unit's accounts) and the names the hub gives its spoke sessions.
//! Pure: resolving the wildcards and assuming the roles is `aws::hub`'s.

use std::fmt;

use serde::Serialize;

/// One account and region the functions work on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    pub account: String,
    pub region: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.account, self.region)
    }
}

impl Target {
    pub fn new(account: &str, region: &str) -> Target {
        Target { account: account.to_string(), region: region.to_string() }
    }
}

/// One entry of `TARGETS`, before its wildcards are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// `111122223333:eu-west-1`
    Pair(Target),
    /// `111122223333:*`: every region enabled in the account (Account Management's `ListRegions`).
    EveryRegion { account: String },
    /// `ou-ab12-cdef3456:eu-west-1`: every active account under the unit, its child units
    /// included (as StackSets deploy to an OU), in that region.
    OrganizationalUnit { ou: String, region: String },
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Pair(t) => t.fmt(f),
            TargetSpec::EveryRegion { account } => write!(f, "{account}:*"),
            TargetSpec::OrganizationalUnit { ou, region } => write!(f, "{ou}:{region}"),
        }
    }
}

/// Entries `TARGETS` may hold; each may stand for many targets once resolved (`MAX_TARGETS`).
pub const MAX_SPECS: usize = 100;
/// Targets one invocation works on: every one is a run of its own with its own clients, and the
/// summary lists every service of every one.
pub const MAX_TARGETS: usize = 500;
/// The default name of the role `spoke.yaml` creates in every account.
pub const DEFAULT_SPOKE_ROLE: &str = "ecs-cost-saver-spoke";

/// Reads `TARGETS`: comma-separated `ACCOUNT:REGION`, `ACCOUNT:*` or `ou-…:REGION`; empty means
/// the local account and region only. Duplicates are dropped; the first bad entry is named.
pub fn parse_targets(text: &str) -> Result<Vec<TargetSpec>, String> {
    let mut specs: Vec<TargetSpec> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let spec = parse_spec(entry).map_err(|why| format!("{:?}: {why}", crate::text::echo(entry)))?;
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    if specs.len() > MAX_SPECS {
        return Err(format!("{} entries; at most {MAX_SPECS} (an organizational unit counts once)", specs.len()));
    }
    Ok(specs)
}

fn parse_spec(entry: &str) -> Result<TargetSpec, String> {
    let Some((owner, region)) = entry.split_once(':') else {
        return Err("expected ACCOUNT:REGION, ACCOUNT:* or ou-…:REGION".into());
    };
    let (owner, region) = (owner.trim(), region.trim());
    if owner.starts_with("ou-") {
        check_ou(owner)?;
        if region == "*" {
            return Err("an organizational unit takes one region (ou-…:REGION); list one entry per region".into());
        }
        check_region(region)?;
        return Ok(TargetSpec::OrganizationalUnit { ou: owner.to_string(), region: region.to_string() });
    }
    check_account(owner)?;
    if region == "*" {
        return Ok(TargetSpec::EveryRegion { account: owner.to_string() });
    }
    check_region(region)?;
    Ok(TargetSpec::Pair(Target::new(owner, region)))
}

/// Twelve digits, as AWS writes account ids.
pub fn check_account(account: &str) -> Result<(), String> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(format!("account {:?} is not a 12-digit AWS account id", crate::text::echo(account)))
}

/// A region code like `eu-west-1` or `us-gov-east-1`: lowercase words, dashes, a number last.
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let words_ok = parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    let last = parts.last().copied().unwrap_or("");
    let number_ok = (1..=2).contains(&last.len()) && last.bytes().all(|b| b.is_ascii_digit());
    if words_ok && number_ok && region.len() <= 32 {
        return Ok(());
    }
    Err(format!("region {:?} is not a region code like eu-west-1", crate::text::echo(region)))
}

/// `ou-` then 4-32 lowercase letters or digits, a dash, 8-32 more (Organizations' own pattern).
fn check_ou(ou: &str) -> Result<(), String> {
    let ok = ou.strip_prefix("ou-").and_then(|rest| rest.split_once('-')).is_some_and(|(root, unit)| {
        let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        (4..=32).contains(&root.len()) && (8..=32).contains(&unit.len()) && alnum(root) && alnum(unit)
    });
    if ok {
        return Ok(());
    }
    Err(format!("{:?} is not an organizational unit id like ou-ab12-cdef3456", crate::text::echo(ou)))
}

/// An IAM role name: 1-64 of letters, digits and `+=,.@_-`.
pub fn check_role_name(name: &str) -> Result<(), String> {
    let ok =
        (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        return Ok(());
    }
    Err("not an IAM role name (1-64 letters, digits and +=,.@_-)".into())
}

/// The role the hub assumes in `account`.
pub fn role_arn(partition: &str, account: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

/// The partition of a region: what role ARNs in it start with.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The STS session name, which CloudTrail records in the spoke with every call: the function
/// and the target, e.g. `scale-down@111122223333.eu-west-1` (at most 64 characters, only the
/// characters STS allows).
pub fn session_name(function: &str, target: &Target) -> String {
    let clean: String =
        function.chars().map(|c| if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) { c } else { '-' }).collect();
    let suffix = format!("@{}.{}", target.account, target.region);
    let room = 64usize.saturating_sub(suffix.len());
    // A long stack name keeps its end, where the function's own name is.
    let function = match clean.len() > room {
        true => &clean[clean.len() - room..],
        false => clean.as_str(),
    };
    format!("{function}{suffix}")
}

/// The target an ECS ARN (`arn:aws:ecs:REGION:ACCOUNT:service/…`) lives in.
pub fn target_of_arn(arn: &str) -> Option<Target> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, region, account) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "ecs" && check_region(region).is_ok() && check_account(account).is_ok())
        .then(|| Target::new(account, region))
}

/// The cluster and service names of an ECS service ARN (`…:service/CLUSTER/NAME`).
pub fn service_of_arn(arn: &str) -> Option<(String, String)> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.split('/');
    let (kind, cluster, name) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = kind == "service" && !cluster.is_empty() && !name.is_empty() && parts.next().is_none();
    (ok && target_of_arn(arn).is_some()).then(|| (cluster.to_string(), name.to_string()))
}

/// The targets a wake is asked for: an account, a region, both or (`None`s) every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub account: Option<String>,
    pub region: Option<String>,
}

impl Place {
    pub fn holds(&self, target: &Target) -> bool {
        self.account.as_ref().is_none_or(|a| *a == target.account)
            && self.region.as_ref().is_none_or(|r| *r == target.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form_and_drops_duplicates() {
        let specs = parse_targets(
            " 111122223333:eu-west-1, 444455556666:* ,ou-ab12-cdef3456:us-east-1,,111122223333:eu-west-1",
        )
        .unwrap();
        assert_eq!(
            specs,
            vec![
                TargetSpec::Pair(Target::new("111122223333", "eu-west-1")),
                TargetSpec::EveryRegion { account: "444455556666".into() },
                TargetSpec::OrganizationalUnit { ou: "ou-ab12-cdef3456".into(), region: "us-east-1".into() },
            ]
        );
        assert_eq!(parse_targets("").unwrap(), vec![]);
        assert_eq!(parse_targets(" , ").unwrap(), vec![]);
        assert_eq!(specs[1].to_string(), "444455556666:*");
    }

    #[test]
    fn a_bad_entry_is_named_with_what_is_wrong() {
        for (text, says) in [
            ("111122223333", "expected ACCOUNT:REGION"),
            ("11112222333:eu-west-1", "not a 12-digit AWS account id"),
            ("111122223333:eu-west", "not a region code"),
            ("111122223333:EU-WEST-1", "not a region code"),
            ("111122223333:eu-west-1a", "not a region code"),
            ("111122223333:", "not a region code"),
            ("ou-ab12:eu-west-1", "not an organizational unit id"),
            ("ou-ab12-cdef3456:*", "takes one region"),
            ("r-ab12:eu-west-1", "not a 12-digit"),
            ("111122223333:eu-west-1:x", "not a region code"),
        ] {
            let err = parse_targets(&format!("111122223333:us-east-1,{text}")).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(err.contains(&format!("{text:?}")) || err.contains(text.split(',').next().unwrap()), "{err}");
        }
        let many: Vec<String> = (0..=MAX_SPECS).map(|i| format!("{:012}:eu-west-1", i)).collect();
        assert!(parse_targets(&many.join(",")).unwrap_err().contains("at most 100"));
    }

    #[test]
    fn session_names_identify_function_and_target_within_sts_limits() {
        let t = Target::new("111122223333", "ap-southeast-2");
        assert_eq!(session_name("cost-saver-scale-down", &t), "cost-saver-scale-down@111122223333.ap-southeast-2");
        let long = session_name(&format!("{}-scale-down", "x".repeat(80)), &t);
        assert_eq!(long.len(), 64);
        assert!(long.ends_with("-scale-down@111122223333.ap-southeast-2"), "{long}");
        assert_eq!(session_name("a b/c", &t), "a-b-c@111122223333.ap-southeast-2");
    }

    #[test]
    fn arns_name_their_target() {
        assert_eq!(
            target_of_arn("arn:aws:ecs:eu-west-1:111122223333:service/previews/web"),
            Some(Target::new("111122223333", "eu-west-1"))
        );
        assert_eq!(target_of_arn("arn:aws:iam::111122223333:role/x"), None);
        assert_eq!(
            service_of_arn("arn:aws:ecs:eu-west-1:111122223333:service/previews/web"),
            Some(("previews".into(), "web".into()))
        );
        assert_eq!(service_of_arn("arn:aws:ecs:eu-west-1:111122223333:service/web"), None);
        assert_eq!(service_of_arn("arn:aws:ecs:eu-west-1:111122223333:cluster/previews"), None);
        let place = Place { account: Some("111122223333".into()), region: None };
        assert!(place.holds(&Target::new("111122223333", "us-east-1")));
        assert!(!place.holds(&Target::new("444455556666", "us-east-1")));
        assert!(Place::default().holds(&Target::new("444455556666", "us-east-1")));
        assert_eq!(target_of_arn("web"), None);
        assert_eq!(role_arn(partition_of("cn-north-1"), "111122223333", "r"), "arn:aws-cn:iam::111122223333:role/r");
        assert!(check_role_name("ecs-cost-saver-spoke").is_ok());
        assert!(check_role_name("a/b").is_err());
        assert!(check_role_name(&"a".repeat(65)).is_err());
    }
}
