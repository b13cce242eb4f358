//! Configuration from environment variables, validated once at start-up. A bad value stops the
//! function with an error naming the variable, before any AWS call.

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::cost::Prices;
use crate::schedule::{parse_zone, Schedule};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {variable}={value:?}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub problem: String,
}

/// The full tag keys, prefix applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeys {
    pub keep_alive: String,
    pub schedule: String,
    pub saved: String,
    /// On a swapped rule: the ARN of the service a request through it wakes (its saved forward
    /// under `<wakes>-forward…`); on a waking target group: its load balancer's ARN.
    pub wakes: String,
    /// The marker on what the tool creates (its waking target groups): `ecs-cost-saver`.
    pub made_by: String,
    /// How long without a request through its load balancer before a service is idle.
    pub idle_after: String,
    /// `false` on a service or cluster: its load balancer rules are never routed to the waker.
    pub wake_on_request: String,
    /// `visit` or `click` on a service, cluster or listener: how a request wakes it (`WAKE_ON`).
    pub wake_on: String,
    /// On a member of an environment: the name of the member it needs running before it is restored.
    pub wake_after: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scope_tag_key: String,
    pub scope_tag_values: Vec<String>,
    pub protected_tag_values: Vec<String>,
    pub tags: TagKeys,
    pub timezone: Tz,
    pub default_schedule: Schedule,
    pub holidays: Vec<NaiveDate>,
    pub grace_period_minutes: u32,
    pub dry_run: bool,
    /// The longest keep-alive `wake` may set.
    pub max_wake_hours: u32,
    /// How long a request to a sleeping service keeps it awake (`waker`).
    pub wake_on_request_minutes: u32,
    /// Which requests wake a sleeping service (`WAKE_ON`): any (`visit`), only the page's button
    /// (`click`), or by the load balancer's scheme (`auto`).
    pub wake_on: WakeOnSetting,
    /// The key the click-to-wake buttons' tokens are signed with (`WAKE_TOKEN_KEY`); unset, a key
    /// for this process only.
    pub wake_token_key: Option<String>,
    /// The waker function's ARN: set, load-balanced services' rules are routed to it while they
    /// sleep; unset, load balancers are left alone.
    pub waker_function_arn: Option<String>,
    /// Minutes without a request before a load-balanced service sleeps; `None`: only by tag.
    pub idle_after_minutes: Option<u32>,
    /// `UpdateService` calls per second sustained, and the burst, this tool allows itself.
    pub update_service_rate: u32,
    pub update_service_burst: u32,
    /// Services changed at the same time.
    pub write_concurrency: u32,
    /// Fargate prices for the savings estimate.
    pub prices: Prices,
    /// Why this process only plans although `DRY_RUN` is not `true` (a `sam local` run with no
    /// local endpoint: `startup::sam_local_guard`); every summary says so.
    pub forced_dry_run: Option<String>,
    /// The tag keys that name a service's environment, first present wins (`ENVIRONMENT_TAG_KEYS`).
    pub environment_tag_keys: Vec<String>,
    /// The accounts and regions to work on (`TARGETS`); empty: the local account and region.
    pub targets: Vec<crate::targets::TargetSpec>,
    /// The role assumed in each target account (`SPOKE_ROLE_NAME`, what `spoke.yaml` creates).
    pub spoke_role_name: String,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`; an empty value counts as unset, because
    /// CloudFormation passes empty strings for blank parameters.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Vars(&lookup);
        // In the order they are reported when several are wrong.
        let (scope_tag_key, scope_tag_values, protected_tag_values) = scope(&vars)?;
        let tags = tag_keys(&vars)?;
        let (timezone, default_schedule, holidays) = hours(&vars)?;
        let grace_period_minutes =
            vars.whole("GRACE_PERIOD_MINUTES", "15", 0..=7 * 24 * 60, "whole minutes from 0 to 10080 (one week)")?;
        let dry = vars.get("DRY_RUN", "false");
        let dry_run = parse_bool(&dry.1).ok_or_else(|| dry.fail("expected `true` or `false`"))?;
        let max_wake_hours = vars.whole("MAX_WAKE_HOURS", "72", 1..=24 * 31, "whole hours from 1 to 744 (31 days)")?;
        let update_service_rate = vars.number("UPDATE_SERVICE_RATE", "5", 1000)?;
        let update_service_burst = vars.number("UPDATE_SERVICE_BURST", "50", 1000)?;
        let write_concurrency = vars.number("WRITE_CONCURRENCY", "8", 64)?;
        let wake_on_request_minutes = vars.number("WAKE_ON_REQUEST_MINUTES", "60", 24 * 60)?;
        let mode = vars.get("WAKE_ON", "auto");
        let wake_on = WakeOnSetting::parse(&mode.1).map_err(|p| mode.fail(p))?;
        let key = vars.get("WAKE_TOKEN_KEY", "");
        if !key.1.is_empty() && key.1.trim().len() < 16 {
            return Err(ConfigError {
                variable: key.0,
                value: "<hidden>".into(),
                problem: "a key of at least 16 characters (the template passes its stack's unique id)".into(),
            });
        }
        let wake_token_key = Some(key.1.trim().to_string()).filter(|k| !k.is_empty());
        let idle = vars.get("IDLE_AFTER", "off");
        let idle_after_minutes = crate::idle::parse_idle_after(&idle.1).map_err(|p| idle.fail(p))?;
        let waker_function_arn = waker(&vars)?;
        let prices = prices(&vars)?;
        let environment_tag_keys = environment_keys(&vars)?;
        let (targets, spoke_role_name) = hub(&vars)?;
        Ok(Config {
            scope_tag_key,
            scope_tag_values,
            protected_tag_values,
            tags,
            timezone,
            default_schedule,
            holidays,
            grace_period_minutes,
            dry_run,
            max_wake_hours,
            wake_on_request_minutes,
            wake_on,
            wake_token_key,
            waker_function_arn,
            idle_after_minutes,
            update_service_rate,
            update_service_burst,
            write_concurrency,
            prices,
            forced_dry_run: None,
            environment_tag_keys,
            targets,
            spoke_role_name,
        })
    }

    /// Scope and protected values match case-insensitively: `Dev`, `DEV` and `dev` are one.
    pub fn is_scope_value(&self, value: &str) -> bool {
        self.scope_tag_values.contains(&value.trim().to_lowercase())
    }

    pub fn is_protected_value(&self, value: &str) -> bool {
        self.protected_tag_values.contains(&value.trim().to_lowercase())
    }
}

/// How a request to a sleeping service wakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeOn {
    /// Any request wakes it (internal load balancers, by default).
    Visit,
    /// Only the page's button does (internet-facing load balancers, by default).
    Click,
}

/// `WAKE_ON`: `visit`, `click`, or `auto` (`click` behind an internet-facing load balancer,
/// `visit` behind an internal one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeOnSetting {
    Auto,
    Fixed(WakeOn),
}

impl WakeOnSetting {
    pub fn parse(text: &str) -> Result<WakeOnSetting, String> {
        match text.trim() {
            "auto" => Ok(WakeOnSetting::Auto),
            "visit" => Ok(WakeOnSetting::Fixed(WakeOn::Visit)),
            "click" => Ok(WakeOnSetting::Fixed(WakeOn::Click)),
            _ => Err("expected `auto`, `visit` or `click`".into()),
        }
    }
}

/// The waking routing is on when a waker function is deployed (`WAKER_FUNCTION_ARN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing<'a> {
    /// The tag key on the tool's swapped rules and waking groups (`cost-saver:wakes`).
    pub key: &'a str,
    /// The marker key on what the tool creates (`cost-saver:made-by`).
    pub marker: &'a str,
    pub waker: &'a str,
    /// The opt-out tag key (`cost-saver:wake-on-request`), read on listeners too.
    pub opt_out: &'a str,
}

impl Config {
    /// The waking routing's settings, when a waker function is deployed.
    pub fn routing(&self) -> Option<Routing<'_>> {
        Some(Routing {
            key: &self.tags.wakes,
            marker: &self.tags.made_by,
            waker: self.waker_function_arn.as_deref()?,
            opt_out: &self.tags.wake_on_request,
        })
    }
}

/// The variables, read through a lookup: each value with its name, for errors that name it.
struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

/// One variable's name and value (the default when unset or empty).
struct Var(&'static str, String);

impl Var {
    fn fail(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError { variable: self.0, value: self.1.clone(), problem: problem.into() }
    }
}

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn get(&self, name: &'static str, default: &str) -> Var {
        Var(name, (self.0)(name).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string()))
    }

    /// A whole number in `range`, or an error saying what was `expected`.
    fn whole(
        &self,
        name: &'static str,
        default: &str,
        range: std::ops::RangeInclusive<u32>,
        expected: &str,
    ) -> Result<u32, ConfigError> {
        let v = self.get(name, default);
        v.1.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| v.fail(format!("expected {expected}")))
    }

    /// A whole number from 1 to `max`.
    fn number(&self, name: &'static str, default: &str, max: u32) -> Result<u32, ConfigError> {
        self.whole(name, default, 1..=max, &format!("a whole number from 1 to {max}"))
    }
}

/// The scope key, the managed values and the protected ones (which may not overlap).
fn scope<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<(String, Vec<String>, Vec<String>), ConfigError> {
    let key = vars.get("SCOPE_TAG_KEY", "Environment");
    let scope_tag_key = key.1.trim().to_string();
    check_tag_key(&scope_tag_key).map_err(|p| key.fail(p))?;
    let values = vars.get("SCOPE_TAG_VALUES", "preview,dev");
    let scope_tag_values = list(&values.1).map_err(|p| values.fail(p))?;
    let protected = vars.get("PROTECTED_TAG_VALUES", "prod,production,live");
    let protected_tag_values = list(&protected.1).map_err(|p| protected.fail(p))?;
    if let Some(both) = scope_tag_values.iter().find(|v| protected_tag_values.contains(v)) {
        return Err(values.fail(format!("`{both}` is also in PROTECTED_TAG_VALUES; a value cannot be both")));
    }
    Ok((scope_tag_key, scope_tag_values, protected_tag_values))
}

/// The tool's tag keys, from `TAG_PREFIX`.
fn tag_keys<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<TagKeys, ConfigError> {
    let prefix = vars.get("TAG_PREFIX", "cost-saver:");
    if prefix.1.to_ascii_lowercase().starts_with("aws:") {
        return Err(prefix.fail("tag keys starting with `aws:` are reserved by AWS"));
    }
    let p = &prefix.1;
    let tags = TagKeys {
        keep_alive: format!("{p}keep-alive"),
        schedule: format!("{p}schedule"),
        saved: format!("{p}saved"),
        wakes: format!("{p}wakes"),
        made_by: format!("{p}made-by"),
        idle_after: format!("{p}idle-after"),
        wake_on_request: format!("{p}wake-on-request"),
        wake_on: format!("{p}wake-on"),
        wake_after: format!("{p}wake-after"),
    };
    check_tag_key(&tags.keep_alive).map_err(|problem| prefix.fail(problem))?;
    Ok(tags)
}

/// The time zone, the default schedule and the holidays.
fn hours<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<(Tz, Schedule, Vec<NaiveDate>), ConfigError> {
    let tz = vars.get("TIMEZONE", "UTC");
    let timezone = parse_zone(tz.1.trim()).map_err(|p| tz.fail(p))?;
    let sched = vars.get("DEFAULT_SCHEDULE", "Mon-Fri 08:00-20:00");
    let default_schedule = Schedule::parse(&sched.1).map_err(|e| sched.fail(e.problem))?;
    let hol = vars.get("HOLIDAYS", "");
    let holidays = hol
        .1
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| hol.fail(format!("`{d}` is not a date YYYY-MM-DD")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((timezone, default_schedule, holidays))
}

/// The environment tag keys, in order; `none` turns environments off (every service its own).
fn environment_keys<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Vec<String>, ConfigError> {
    let keys = vars.get("ENVIRONMENT_TAG_KEYS", "cost-saver:environment,aws:cloudformation:stack-name");
    if keys.1.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let list: Vec<String> = keys.1.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
    for key in &list {
        check_tag_key(key).map_err(|p| keys.fail(format!("`{}`: {p}", crate::text::echo(key))))?;
    }
    if list.len() > 10 {
        return Err(keys.fail("at most 10 keys"));
    }
    Ok(list)
}

/// Where the functions work (`TARGETS`) and the role they assume there (`SPOKE_ROLE_NAME`).
fn hub<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<(Vec<crate::targets::TargetSpec>, String), ConfigError> {
    let targets = vars.get("TARGETS", "");
    let specs = crate::targets::parse_targets(&targets.1).map_err(|p| targets.fail(p))?;
    let role = vars.get("SPOKE_ROLE_NAME", crate::targets::DEFAULT_SPOKE_ROLE);
    crate::targets::check_role_name(role.1.trim()).map_err(|p| role.fail(p))?;
    Ok((specs, role.1.trim().to_string()))
}

/// The waker function's ARN, when one is deployed.
fn waker<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Option<String>, ConfigError> {
    let waker = vars.get("WAKER_FUNCTION_ARN", "");
    match waker.1.trim() {
        "" => Ok(None),
        arn if arn.starts_with("arn:") && arn.contains(":lambda:") && arn.contains(":function:") => {
            Ok(Some(arn.to_string()))
        }
        _ => Err(waker.fail("expected a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)")),
    }
}

/// Fargate prices for the savings estimate, us-east-1's by default.
fn prices<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Prices, ConfigError> {
    let d = Prices::US_EAST_1;
    let price = |name: &'static str, default: f64| {
        let v = vars.get(name, &default.to_string());
        v.1.trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
            .ok_or_else(|| v.fail("expected a price in USD per hour from 0 to 100, like 0.04048"))
    };
    Ok(Prices {
        x86_vcpu_hour: price("PRICE_X86_VCPU_HOUR", d.x86_vcpu_hour)?,
        x86_gb_hour: price("PRICE_X86_GB_HOUR", d.x86_gb_hour)?,
        arm_vcpu_hour: price("PRICE_ARM_VCPU_HOUR", d.arm_vcpu_hour)?,
        arm_gb_hour: price("PRICE_ARM_GB_HOUR", d.arm_gb_hour)?,
    })
}

fn list(value: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = value.split(',').map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty()).collect();
    if items.is_empty() {
        return Err("expected a comma-separated list of tag values".into());
    }
    Ok(items)
}

fn check_tag_key(key: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
    if key.is_empty() || key.chars().count() > 128 || !key.chars().all(allowed) {
        return Err("not a valid tag key (1-128 letters, digits, spaces and + - = . _ : / @)".into());
    }
    Ok(())
}

pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_match_the_product_contract() {
        let c = with(&[]).unwrap();
        assert_eq!(c.scope_tag_key, "Environment");
        assert_eq!(c.scope_tag_values, ["preview", "dev"]);
        assert_eq!(c.protected_tag_values, ["prod", "production", "live"]);
        assert_eq!(c.tags.keep_alive, "cost-saver:keep-alive");
        assert_eq!(c.tags.schedule, "cost-saver:schedule");
        assert_eq!(c.tags.saved, "cost-saver:saved");
        assert_eq!(c.timezone, Tz::UTC);
        assert_eq!(c.default_schedule.to_string(), "Mon-Fri 08:00-20:00");
        assert!(c.holidays.is_empty());
        assert_eq!(c.grace_period_minutes, 15);
        assert!(!c.dry_run);
        assert_eq!(c.max_wake_hours, 72);
        assert_eq!((c.update_service_rate, c.update_service_burst, c.write_concurrency), (5, 50, 8));
        assert_eq!(c.environment_tag_keys, ["cost-saver:environment", "aws:cloudformation:stack-name"]);
        assert_eq!(c.tags.wake_after, "cost-saver:wake-after");
        assert!(with(&[("ENVIRONMENT_TAG_KEYS", "None")]).unwrap().environment_tag_keys.is_empty());
        assert_eq!(
            with(&[("ENVIRONMENT_TAG_KEYS", " team-env , app ")]).unwrap().environment_tag_keys,
            ["team-env", "app"]
        );
    }

    #[test]
    fn reads_every_variable() {
        let c = with(&[
            ("SCOPE_TAG_KEY", "stage"),
            ("SCOPE_TAG_VALUES", " Preview , QA "),
            ("PROTECTED_TAG_VALUES", "prod"),
            ("TAG_PREFIX", "sleepy/"),
            ("TIMEZONE", "Europe/Berlin"),
            ("DEFAULT_SCHEDULE", "Mon-Thu 07:00-19:00"),
            ("HOLIDAYS", "2026-12-24, 2026-12-25,"),
            ("GRACE_PERIOD_MINUTES", "30"),
            ("DRY_RUN", "TRUE"),
        ])
        .unwrap();
        assert_eq!(c.scope_tag_key, "stage");
        assert_eq!(c.scope_tag_values, ["preview", "qa"]);
        assert!(c.is_scope_value("QA") && !c.is_scope_value("dev"));
        assert_eq!(c.tags.saved, "sleepy/saved");
        assert_eq!(c.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(c.holidays.len(), 2);
        assert_eq!(c.grace_period_minutes, 30);
        assert!(c.dry_run);
    }

    #[test]
    fn empty_values_mean_defaults() {
        let c = with(&[("TIMEZONE", ""), ("HOLIDAYS", " "), ("SCOPE_TAG_VALUES", "")]).unwrap();
        assert_eq!(c.timezone, Tz::UTC);
        assert_eq!(c.scope_tag_values, ["preview", "dev"]);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value, needle) in [
            ("TIMEZONE", "Mars/Olympus", "IANA"),
            ("DEFAULT_SCHEDULE", "weekdays", "neither days"),
            ("HOLIDAYS", "2026-12-24,Christmas", "`Christmas`"),
            ("GRACE_PERIOD_MINUTES", "-5", "whole minutes"),
            ("GRACE_PERIOD_MINUTES", "99999", "whole minutes"),
            ("DRY_RUN", "maybe", "`true` or `false`"),
            ("MAX_WAKE_HOURS", "0", "whole hours"),
            ("MAX_WAKE_HOURS", "1000", "whole hours"),
            ("UPDATE_SERVICE_RATE", "0", "from 1 to 1000"),
            ("UPDATE_SERVICE_BURST", "lots", "from 1 to 1000"),
            ("WRITE_CONCURRENCY", "65", "from 1 to 64"),
            ("PRICE_X86_VCPU_HOUR", "-1", "price in USD"),
            ("PRICE_ARM_GB_HOUR", "NaN", "price in USD"),
            ("PRICE_X86_GB_HOUR", "$0.004", "price in USD"),
            ("SCOPE_TAG_VALUES", ",,", "comma-separated"),
            ("SCOPE_TAG_VALUES", "dev,prod", "also in PROTECTED_TAG_VALUES"),
            ("SCOPE_TAG_KEY", "bad{key}", "tag key"),
            ("TAG_PREFIX", "aws:x-", "reserved"),
            ("ENVIRONMENT_TAG_KEYS", "stack,bad{key}", "`bad{key}`"),
        ] {
            let err = with(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable, var);
            let text = err.to_string();
            assert!(text.contains(var) && text.contains(needle), "{text}");
        }
    }
}
