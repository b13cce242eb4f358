//! One service by name: every rule the planner weighed, in its order, and its decision.

use super::*;

/// Why one service stands where it does: the planner's inputs in the order it weighs them, and
/// its decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub cluster: String,
    pub service: String,
    pub at: DateTime<Utc>,
    /// `(rule, what it found)`, in the planner's order.
    pub rules: Vec<(String, String)>,
    /// What a `reconcile` at `at` would do, and why.
    pub action: &'static str,
    pub reason: String,
    pub next: Vec<Transition>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// What is missing: `cluster C`, or `service C/S (or it is not ACTIVE)`.
    #[error("no {0}")]
    NotFound(String),
    #[error("{0}")]
    Call(#[from] CallError),
}

/// One service, as discovery and the planner see it.
pub(super) async fn one<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    config: &Config,
    cluster: &str,
    service: &str,
    at: DateTime<Utc>,
) -> Result<ObservedService, LookupError> {
    let selector = Selector::Service { cluster: cluster.into(), service: service.into() };
    let observation = fleet.select(&selector).await?;
    if observation.missing.iter().any(|m| m.starts_with("cluster ")) {
        return Err(LookupError::NotFound(format!("cluster {cluster}")));
    }
    let mut found = observation.services;
    found.retain(|s| s.id.name == service && s.id.cluster == cluster && s.is_active());
    let inv = what_if(at);
    let mut warnings = Vec::new();
    complete(fleet, &mut found, config, inv, &mut warnings, crate::run::Purpose::Plan).await?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    found
        .into_iter()
        .next()
        .ok_or_else(|| LookupError::NotFound(format!("service {cluster}/{service} (or it is not ACTIVE)")))
}

/// The `environment` line: its name and the other members, when `s` has one.
fn environment_rule(s: &ObservedService, together: &[ObservedService], config: &Config) -> Option<(String, String)> {
    let env = crate::environment::environment_of(s, config)?;
    let others: Vec<String> = together.iter().filter(|m| m.id != s.id).map(|m| m.id.to_string()).collect();
    let found = match others.is_empty() {
        true => format!("{env}: no other member, planned on its own"),
        false => format!("{env}, with {}: woken, kept awake and idle-slept together", others.join(", ")),
    };
    Some(("environment".to_string(), found))
}

/// `s` and the other members of its environment, completed for the planner as `s` was.
async fn with_members<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    config: &Config,
    s: &ObservedService,
    at: DateTime<Utc>,
) -> Result<Vec<ObservedService>, CallError> {
    let selected = crate::fleet::Observation { services: vec![s.clone()], ..Default::default() };
    let mut all = crate::environment::with_members(fleet, config, selected).await?.services;
    if all.len() > 1 {
        let mut others = all.split_off(1);
        complete(fleet, &mut others, config, what_if(at), &mut Vec::new(), crate::run::Purpose::Plan).await?;
        all.extend(others);
    }
    Ok(all)
}

/// The members of environment `name` as `CLUSTER/SERVICE` names (for the command line's
/// environment targets); `NotFound` when none is ACTIVE.
pub async fn environment_members<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    name: &str,
) -> Result<Vec<(String, String)>, LookupError> {
    let o = crate::environment::members(fleet, config, name).await?;
    let mut names: Vec<(String, String)> =
        o.services.iter().filter(|s| s.is_active()).map(|s| (s.id.cluster.clone(), s.id.name.clone())).collect();
    names.sort();
    if names.is_empty() {
        return Err(LookupError::NotFound(format!("environment {name}")));
    }
    Ok(names)
}

/// `Ok` when the cluster exists. Asked only when a filter on it matched nothing: an empty table
/// for a misspelt name would read as "nothing managed there".
pub async fn require_cluster<F: ReadFleet + ReadTraffic>(fleet: &F, cluster: &str) -> Result<(), LookupError> {
    let observation = fleet.select(&Selector::Cluster { cluster: cluster.into() }).await?;
    if observation.missing.iter().any(|m| m.starts_with("cluster ")) {
        return Err(LookupError::NotFound(format!("cluster {cluster}")));
    }
    Ok(())
}

pub async fn explain<F: ReadFleet + ReadTraffic>(
    fleet: &F,
    config: &Config,
    cluster: &str,
    service: &str,
    at: DateTime<Utc>,
) -> Result<Explanation, LookupError> {
    let s = one(fleet, config, cluster, service, at).await?;
    let view = read_tags(&s, config, at);
    let inv = what_if(at);
    let together = with_members(fleet, config, &s, at).await?;
    let entry = plan(&together, config, inv).entries.into_iter().find(|e| e.id == s.id);
    let mut rules = vec![
        (
            "service".to_string(),
            format!("{}, {:?}, desired {} (running {})", s.status, s.strategy, s.desired, s.running),
        ),
        ("scope".to_string(), describe_scope(&view, config)),
        (
            "saved state".to_string(),
            match &view.saved {
                None => "none: awake as far as the tool knows".into(),
                Some(Ok(saved)) => format!("`{}`: asleep since {}", saved, saved.at.to_rfc3339()),
                Some(Err(e)) => format!("unreadable: {e}"),
            },
        ),
        (
            "keep-alive".to_string(),
            match (&view.keep_alive, view.keep_alive_source) {
                (KeepAliveState::Active { until: None }, Some(src)) => {
                    format!("on the {}, until removed", src.describe())
                }
                (KeepAliveState::Active { until: Some(t) }, Some(src)) => {
                    format!("on the {}, until {}", src.describe(), t.to_rfc3339())
                }
                _ => "none active".into(),
            },
        ),
    ];
    rules.extend(environment_rule(&s, &together, config));
    let verdict = view.schedule.verdict(at, config.timezone, &config.holidays);
    rules.push(("schedule".to_string(), format!("from the {}: {}", view.schedule_source.describe(), verdict.why)));
    if let Some(deployed) = s.last_deployed_at {
        let ends = deployed + Duration::minutes(config.grace_period_minutes.into());
        let state = if at < ends { "in it: not put to sleep" } else { "over" };
        rules.push((
            "grace period".to_string(),
            format!(
                "{} min after the last deployment ({}): {state}",
                config.grace_period_minutes,
                deployed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    rules.push((
        "wake on request".to_string(),
        match (view.wake_on_request, s.target_groups.len(), config.routing().is_some()) {
            (_, 0, _) => "no load balancer".into(),
            (false, _, _) => format!("off ({}=false)", config.tags.wake_on_request),
            (true, n, true) => format!("on: {n} target group(s) routed to the waker while it sleeps"),
            (true, _, false) => "no waker deployed".into(),
        },
    ));
    rules.push((
        "idle".to_string(),
        match (view.idle_after, s.requests) {
            (None, _) => "off".into(),
            (Some(m), Some(r)) => format!("after {m} min without a request; {r} request(s) in the last {m} min"),
            (Some(m), None) => format!("after {m} min without a request (traffic read by reconcile)"),
        },
    ));
    let (action, reason, warnings) = match entry {
        Some(e) => (e.action.reported(true).name(), e.reason, e.warnings),
        None => ("skipped", format!("not managed: no {} in scope and no saved state", config.scope_tag_key), vec![]),
    };
    let next = transitions(&s, config, at, at + Duration::days(8), 2);
    Ok(Explanation { cluster: cluster.into(), service: service.into(), at, rules, action, reason, next, warnings })
}

pub(super) fn describe_scope(view: &TagView, config: &Config) -> String {
    let key = &config.scope_tag_key;
    match &view.scope {
        Scope::Managed => format!("managed: {key} has a scope value ({})", config.scope_tag_values.join(", ")),
        Scope::Protected { value, source } => format!("protected: {key}={value} on the {}", source.describe()),
        Scope::OutOfScope => format!("not managed: {key} has no scope value"),
        Scope::Untrimmed { value, source } => {
            format!("{key}=`{value}` on the {} has spaces around it: never changed", source.describe())
        }
    }
}
