//! `wake`: keeps the services someone names awake until a time and restores the sleeping ones
//! now. Refuses, before any write, unknown clusters and services, protected services and
//! durations beyond `MAX_WAKE_HOURS`.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apply::{apply, Outcome};
use crate::config::Config;
use crate::event::{kind, parse_now, refuse_nulls, PayloadError};
use crate::fleet::{CallError, ChangeService, Fleet, Selector};
use crate::keep_alive::{KeepAlive, KeepAliveState};
use crate::model::ObservedService;
use crate::model::SchedulingStrategy;
use crate::pacing::Limits;
use crate::plan::{plan, rfc3339, Action, Capacity, Invocation, Mode, PlanEntry};
use crate::routing::release_services;
use crate::run::{complete, summarise, Counters, Purpose, Ran};
use crate::summary::{Caller, Summary};
use crate::tags::{read_tags, Scope, Source, TagView};
use crate::text::echo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeRequest {
    pub selector: Selector,
    pub until: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    pub origin: WakeOrigin,
}

/// Who asks for the wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeOrigin {
    /// Someone, by name, cluster or tag (the `wake` function, the CLI).
    Engineer,
    /// A request through the service's load balancer (the waker): each keep-alive lasts at least
    /// the service's idle-after, so it is never idle-slept on a window that began while it slept.
    Request,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WakeError {
    #[error(transparent)]
    InvalidPayload(#[from] PayloadError),
    #[error("not found: {}", .0.join(", "))]
    NotFound(Vec<String>),
    #[error("refused: protected services are never touched: {}", .0.join(", "))]
    Protected(Vec<String>),
    #[error("no managed service matched (not in scope: {})", if .0.is_empty() { "none found".to_string() } else { .0.join(", ") })]
    NotManaged(Vec<String>),
    #[error("reading the fleet failed: {0}")]
    Discovery(CallError),
}

impl WakeError {
    /// A stable error type for `lambda_runtime::Diagnostic`, and the HTTP status for the URL.
    pub fn kind(&self) -> (&'static str, u16) {
        match self {
            WakeError::InvalidPayload(_) => ("InvalidPayload", 400),
            WakeError::NotFound(_) => ("NotFound", 404),
            WakeError::Protected(_) => ("Protected", 403),
            WakeError::NotManaged(_) => ("NotManaged", 422),
            WakeError::Discovery(_) => ("DiscoveryFailed", 502),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    cluster: Option<String>,
    service: Option<String>,
    tag: Option<TagPayload>,
    environment: Option<String>,
    hours: Option<f64>,
    until: Option<String>,
    dry_run: Option<bool>,
    now: Option<String>,
    /// Where, with `TARGETS` (`place_of`).
    account: Option<String>,
    region: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagPayload {
    key: String,
    value: String,
}

const ACCEPTED: &str =
    "accepted: {\"cluster\": \"...\", \"service\": \"...\"}, {\"environment\": \"...\"} or {\"tag\": {\"key\": \"...\", \"value\": \"...\"}}, \
plus \"hours\": N or \"until\": \"<RFC 3339>\"; optional \"dry_run\", \"now\", and with TARGETS \"account\", \"region\" \
(or the service's ARN as \"service\")";

/// ECS names clusters and services with at most 255 characters; tag keys have 128, values 256.
const MAX_NAME_CHARS: usize = 255;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// Reads a wake request. The keep-alive it writes is always measured from the real `clock`:
/// `now` only steers a dry run's plan (a what-if), so it can neither stretch a keep-alive past
/// `MAX_WAKE_HOURS` nor write one that has already expired.
pub fn parse_wake(payload: &Value, clock: DateTime<Utc>, config: &Config) -> Result<WakeRequest, PayloadError> {
    let bad = |m: String| PayloadError(format!("{m} ({ACCEPTED})"));
    if !payload.is_object() {
        return Err(bad(format!("expected a JSON object, got {}", kind(payload))));
    }
    refuse_nulls(payload, "payload")?;
    if let Some(tag) = payload.get("tag") {
        if !tag.is_object() {
            return Err(bad(format!("`tag` must be an object {{\"key\": ..., \"value\": ...}}, got {}", kind(tag))));
        }
        refuse_nulls(tag, "`tag`")?;
    }
    let mut p: Payload = serde_json::from_value(payload.clone()).map_err(|e| bad(e.to_string()))?;
    if config.targets.is_empty() && (p.account.is_some() || p.region.is_some()) {
        return Err(bad(
            "`account` and `region` need TARGETS: this deployment works on its own account and region".into()
        ));
    }
    let selector = selector_of(&mut p, config)?;
    let dry_run = config.dry_run || p.dry_run.unwrap_or(false);
    let now = match p.now {
        None => crate::clock::whole_seconds(clock),
        Some(_) if !dry_run => {
            return Err(bad("`now` is only for dry runs: a keep-alive is always measured from the real clock".into()))
        }
        Some(t) => parse_now(&t, clock)?,
    };
    let max = Duration::hours(config.max_wake_hours.into());
    let until = match (p.hours, p.until) {
        (Some(h), None) => {
            if !h.is_finite() || h <= 0.0 || h > f64::from(config.max_wake_hours) {
                return Err(bad(format!(
                    "`hours` = {h} must be above 0 and at most MAX_WAKE_HOURS ({})",
                    config.max_wake_hours
                )));
            }
            let seconds = (h * 3600.0).round() as i64;
            if seconds < 60 {
                return Err(bad(format!("`hours` = {h} is less than a minute")));
            }
            now + Duration::seconds(seconds)
        }
        (None, Some(t)) => {
            let until = parse_time("until", &t).map_err(bad)?;
            if until <= now {
                return Err(bad(format!("`until` = {:?} is not in the future (now is {})", echo(&t), rfc3339(now))));
            }
            if until - now > max {
                return Err(bad(format!(
                    "`until` = {:?} is more than MAX_WAKE_HOURS ({}) away",
                    echo(&t),
                    config.max_wake_hours
                )));
            }
            until
        }
        (Some(_), Some(_)) => return Err(bad("give either `hours` or `until`, not both".into())),
        (None, None) => return Err(bad("say how long: `hours` or `until`".into())),
    };
    // Whole seconds: the keep-alive tag holds seconds, and what is written must read back as is.
    Ok(WakeRequest { selector, until: crate::clock::whole_seconds(until), now, dry_run, origin: WakeOrigin::Engineer })
}

/// What the payload names: a service, a cluster, an environment or a tag (taken out of `p`).
fn selector_of(p: &mut Payload, config: &Config) -> Result<Selector, PayloadError> {
    let bad = |m: String| PayloadError(format!("{m} ({ACCEPTED})"));
    let field = |name: &str, v: String, max: usize| {
        let v = v.trim().to_string();
        if v.is_empty() {
            Err(bad(format!("`{name}` is empty")))
        } else if v.chars().count() > max {
            Err(bad(format!("`{name}` = {:?} is longer than {max} characters", echo(&v))))
        } else {
            Ok(v)
        }
    };
    let selector = match (p.cluster.take(), p.service.take(), p.tag.take(), p.environment.take()) {
        (None, None, None, Some(name)) => {
            if config.environment_tag_keys.is_empty() {
                return Err(bad("`environment`: environments are off here (ENVIRONMENT_TAG_KEYS=none)".into()));
            }
            Selector::Environment {
                name: field("environment", name, MAX_TAG_VALUE_CHARS)?,
                keys: config.environment_tag_keys.clone(),
            }
        }
        (_, _, _, Some(_)) => return Err(bad("give either `environment` or `cluster`/`service` or `tag`".into())),
        (Some(cluster), Some(service), None, None) => Selector::Service {
            cluster: field("cluster", cluster, MAX_NAME_CHARS)?,
            service: field("service", service, MAX_NAME_CHARS)?,
        },
        (Some(cluster), None, None, None) => Selector::Cluster { cluster: field("cluster", cluster, MAX_NAME_CHARS)? },
        (None, None, Some(t), None) => Selector::Tag {
            key: field("tag.key", t.key, MAX_TAG_KEY_CHARS)?,
            value: field("tag.value", t.value, MAX_TAG_VALUE_CHARS)?,
        },
        (None, Some(arn), None, None) if arn.trim().starts_with("arn:") => {
            let (cluster, service) = crate::targets::service_of_arn(arn.trim())
                .ok_or_else(|| bad(format!("`service` = {:?} is not an ECS service ARN", echo(&arn))))?;
            Selector::Service { cluster, service }
        }
        (None, Some(_), None, None) => {
            return Err(bad("`service` needs its `cluster` (or give the service's ARN)".into()))
        }
        (None, None, None, None) => {
            return Err(bad("name a `cluster` (and `service`), an `environment` or a `tag`".into()))
        }
        _ => return Err(bad("give either `cluster`/`service` or `tag`, not both".into())),
    };
    Ok(selector)
}

/// Where a wake on `TARGETS` looks: the payload's `account` and `region`, or its service ARN's.
pub fn place_of(payload: &Value) -> Result<crate::targets::Place, PayloadError> {
    let text = |field: &str| payload.get(field).and_then(Value::as_str).map(|v| v.trim().to_string());
    let bad = |m: String| PayloadError(format!("{m} ({ACCEPTED})"));
    let from_arn = text("service").as_deref().and_then(crate::targets::target_of_arn);
    let account = text("account").or(from_arn.as_ref().map(|t| t.account.clone()));
    let region = text("region").or(from_arn.map(|t| t.region));
    if let Some(a) = &account {
        crate::targets::check_account(a).map_err(|e| bad(format!("`account`: {e}")))?;
    }
    if let Some(r) = &region {
        crate::targets::check_region(r).map_err(|e| bad(format!("`region`: {e}")))?;
    }
    Ok(crate::targets::Place { account, region })
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{field}` = {:?} is not an RFC 3339 time like 2026-11-20T22:00:00Z", echo(text)))
}

/// A service `wake` kept awake, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptAlive {
    /// The account and region it is in, when the wake worked on `TARGETS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub cluster: String,
    pub service: String,
    pub until: String,
    /// `false` when an existing keep-alive already lasted at least as long (it is never shortened).
    pub written: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WakeReport {
    pub until: String,
    pub kept_alive: Vec<KeptAlive>,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Keeps the services `req` names awake and restores the sleeping ones, starting no service
/// after `deadline` (those are reported `not_reached`).
pub async fn wake<F: Fleet>(
    fleet: &F,
    config: &Config,
    req: &WakeRequest,
    deadline: Option<Instant>,
) -> Result<WakeReport, WakeError> {
    let before = Counters::read(fleet);
    let observation = select_together(fleet, config, &req.selector).await.map_err(WakeError::Discovery)?;
    wake_selected(fleet, config, req, deadline, observation, before).await
}

/// What `selector` names, with the other members of every environment among it: a wake of one
/// member wakes its environment.
pub(crate) async fn select_together<F: Fleet>(
    fleet: &F,
    config: &Config,
    selector: &Selector,
) -> Result<crate::fleet::Observation, CallError> {
    match selector {
        Selector::Environment { name, .. } => {
            let mut o = crate::environment::members(fleet, config, name).await?;
            if o.missing.is_empty() {
                // Named as a whole: its protected members are left as they are, not refused.
                o.services.retain(|s| {
                    !matches!(crate::tags::scope_of(s, config), Scope::Protected { .. } | Scope::Untrimmed { .. })
                });
            }
            Ok(o)
        }
        _ => {
            let selected = fleet.select(selector).await?;
            crate::environment::with_members(fleet, config, selected).await
        }
    }
}

/// `wake` on what `req.selector` selected already (the waker reads the service first, to know how
/// it may be woken); `before` are the counters from before that read.
pub(crate) async fn wake_selected<F: Fleet>(
    fleet: &F,
    config: &Config,
    req: &WakeRequest,
    deadline: Option<Instant>,
    mut observation: crate::fleet::Observation,
    before: Counters,
) -> Result<WakeReport, WakeError> {
    let limits = Limits::for_run(config, deadline);
    if !observation.missing.is_empty() {
        return Err(WakeError::NotFound(observation.missing));
    }
    // With the keep-alive in place, restoring is exactly what scale-up does for these services.
    let inv = Invocation { mode: Mode::ScaleUp, now: req.now, dry_run: req.dry_run, force: false };
    // Before any write: a failed read must leave nothing half-done.
    complete(fleet, &mut observation.services, config, inv, &mut observation.warnings, Purpose::Wake)
        .await
        .map_err(WakeError::Discovery)?;
    let managed = managed_services(observation.services, config, req.now)?;
    let report_until = rfc3339(req.until);
    let KeptAlives { kept_alive, failed, to_plan } = keep_alive_all(fleet, config, req, &limits, managed).await;

    let plan = plan(&to_plan, config, inv);
    let mut outcomes = apply(&plan, fleet, &config.tags.saved, config.routing(), &limits).await;
    outcomes.extend(failed);
    let released = match config.routing() {
        Some(r) if !req.dry_run => {
            let ids: Vec<_> = to_plan.iter().filter(|s| !s.target_groups.is_empty()).map(|s| s.id.clone()).collect();
            release_services(fleet, &config.tags.saved, r, &ids).await
        }
        _ => Vec::new(),
    };
    let caller = match req.origin {
        WakeOrigin::Engineer => Caller::Wake,
        WakeOrigin::Request => Caller::Waker,
    };
    let ran = Ran { caller, inv: &inv, services: &to_plan, outcomes, warnings: observation.warnings };
    let mut summary = summarise(fleet, config, ran, before).await;
    summary.routing = released;
    Ok(WakeReport { until: report_until, kept_alive, summary })
}

/// The services a wake may touch: every matched REPLICA service that is ACTIVE, in scope and not
/// protected. Any protected one refuses the whole request, before any write.
fn managed_services(
    services: Vec<ObservedService>,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Vec<(ObservedService, TagView)>, WakeError> {
    let (mut protected, mut unmanaged, mut managed) = (vec![], vec![], vec![]);
    for s in services {
        if !s.is_active() || s.strategy != SchedulingStrategy::Replica {
            continue;
        }
        let view = read_tags(&s, config, now);
        match &view.scope {
            Scope::Protected { value, source } => {
                protected.push(format!("{} ({}={value} on the {})", s.id, config.scope_tag_key, source.describe()))
            }
            Scope::Untrimmed { value, source } => protected.push(format!(
                "{} ({}=`{value}` on the {} has spaces around it; fix the tag)",
                s.id,
                config.scope_tag_key,
                source.describe()
            )),
            Scope::OutOfScope => unmanaged.push(s.id.to_string()),
            Scope::Managed => managed.push((s, view)),
        }
    }
    if !protected.is_empty() {
        return Err(WakeError::Protected(protected));
    }
    if managed.is_empty() {
        return Err(WakeError::NotManaged(unmanaged));
    }
    Ok(managed)
}

/// What writing the keep-alives left: the services kept alive, those whose write failed (or the
/// deadline came first), and the services to plan the restore of, carrying their keep-alive.
struct KeptAlives {
    kept_alive: Vec<KeptAlive>,
    failed: Vec<Outcome>,
    to_plan: Vec<ObservedService>,
}

/// Writes each service's keep-alive (never shortening a longer one of its own), first of all
/// writes: a service whose keep-alive could not be written is not restored.
async fn keep_alive_all<F: ChangeService>(
    fleet: &F,
    config: &Config,
    req: &WakeRequest,
    limits: &Limits,
    managed: Vec<(ObservedService, TagView)>,
) -> KeptAlives {
    let key = &config.tags.keep_alive;
    let (mut kept_alive, mut failed, mut to_plan) = (vec![], vec![], vec![]);
    for (mut s, view) in managed {
        let until = match view.idle_after {
            Some(minutes) if req.origin == WakeOrigin::Request => {
                req.until.max(crate::keep_alive::keep_alive_until(req.now, minutes))
            }
            _ => req.until,
        };
        // Never past MAX_WAKE_HOURS: one request (a scanner's) must not keep a service with a
        // long idle-after awake for a week (an engineer's wake was refused beyond it already).
        let until = until.min(req.now + Duration::hours(config.max_wake_hours.into()));
        let value = rfc3339(until);
        let reads_back = KeepAlive::parse(&value).ok().map(|k| k.state(req.now, chrono_tz::UTC))
            == Some(KeepAliveState::Active { until: Some(until) });
        let own_lasts = view.keep_alive_source == Some(Source::Service)
            && matches!(view.keep_alive, KeepAliveState::Active { until: t } if t.is_none_or(|t| t >= until));
        if !own_lasts && !req.dry_run {
            let not_done = |reason: &str, error: Option<CallError>| {
                let from = Capacity::new(s.desired, s.scaling);
                let entry = PlanEntry {
                    id: s.id.clone(),
                    action: Action::Skip,
                    reason: reason.into(),
                    to: from.clone(),
                    from,
                    warnings: view.warnings.clone(),
                    target_groups: s.target_groups.clone(),
                    shared_groups: vec![],
                    environment: crate::environment::environment_of(&s, config),
                };
                let not_reached = error.is_none();
                Outcome { entry, steps: vec![], error, not_reached, second_pass: false }
            };
            if limits.past_deadline() {
                failed.push(not_done("the deadline came before its keep-alive was written; nothing was changed", None));
                continue;
            }
            let written = if reads_back {
                fleet.tag(&s.id, key, &value).await
            } else {
                Err(CallError::refused(
                    "ecs:TagResource",
                    format!("keep-alive `{value}` would not read back as {}", rfc3339(until)),
                ))
            };
            if let Err(e) = written {
                failed.push(not_done("writing the keep-alive failed; nothing else was changed", Some(e)));
                continue;
            }
        }
        kept_alive.push(KeptAlive {
            account: None,
            region: None,
            cluster: s.id.cluster.clone(),
            service: s.id.name.clone(),
            until: if own_lasts { describe_existing(&view.keep_alive) } else { value.clone() },
            // A dry run writes nothing, and says so.
            written: !own_lasts && !req.dry_run,
        });
        if !own_lasts {
            s.tags.insert(key.clone(), value.clone());
        }
        to_plan.push(s);
    }

    KeptAlives { kept_alive, failed, to_plan }
}

fn describe_existing(state: &KeepAliveState) -> String {
    match state {
        KeepAliveState::Active { until: Some(t) } => rfc3339(*t),
        _ => "no end (existing keep-alive)".into(),
    }
}

#[cfg(test)]
mod tests;
