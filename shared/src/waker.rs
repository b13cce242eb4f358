//! The waker: the Application Load Balancer target of a load balancer's waking target group,
//! where the rules of its sleeping services forward (see `routing`).
//!
//! An ALB event names the target group that routed it, and nothing about the rule, so the waker
//! reads the rules that forward to that group and evaluates them against the request as the load
//! balancer did (`routing::matching`); the rule it took names the service in the tool's own tag.
//! How a request may wake it is the service's `WAKE_ON` mode (`click`): in `visit` mode any
//! request restores the service through the same path as `wake`, with a keep-alive of
//! `WAKE_ON_REQUEST_MINUTES`; in `click` mode only the button of the page it shows does, and
//! nothing is written before. Every request is answered at once:
//! - `GET`/`HEAD` asking for HTML: a small page, "<service> is waking up", that reloads itself
//!   until the application answers in its place (in `click` mode first the button);
//! - anything else (an API call, a webhook): `503` with `Retry-After`; in `visit` mode it wakes
//!   the service too, in `click` mode it does not.
//!
//! A service that cannot be woken this way (protected, out of scope, deleted, or a target group
//! that is not the tool's) gets a page that does not reload: the waker never loops.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use aws_lambda_events::alb::AlbTargetGroupRequest;
#[cfg(test)]
use aws_lambda_events::http::header::{HeaderValue, ACCEPT};
#[cfg(test)]
use aws_lambda_events::http::Method;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::fleet::{Fleet, Observation, Selector};
use crate::keep_alive::keep_alive_until;
use crate::model::{ListenerRule, Reported, ServiceId};
use crate::routing::matching;
use crate::run::Counters;
use crate::wake::{wake_selected, WakeError, WakeOrigin, WakeRequest};
use click::{Knock, Tokens, WakeOn};
use progress::Progress;

pub mod click;
mod keep_awake;
mod page;
pub mod progress;
mod progress_page;

pub use page::{page, respond};

/// How often the waking page reloads itself, and what `Retry-After` says.
pub const RETRY_SECONDS: u32 = 10;

/// A warm waker that just woke a service answers further requests for it from memory for this
/// long: a burst of page loads wakes once and reads the fleet once.
const RECENTLY_WOKEN: StdDuration = StdDuration::from_secs(30);

/// How long a warm waker keeps a waking group's rules: a burst reads them once, and a rule
/// swapped by a run shows within seconds.
const RULES_KEPT: StdDuration = StdDuration::from_secs(10);

/// What the waker decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The service is waking (or awake, its routing not yet restored): reload until it answers;
    /// with how far its environment is, when the waker read it.
    Waking { service: String, progress: Option<Progress> },
    /// A transient problem (AWS throttled, a write failed): reload and try again.
    Retrying { service: String, why: String },
    /// This request cannot wake anything: a page that does not reload.
    Refused { why: String },
    /// The function only plans (`DRY_RUN=true`): the service stays asleep, and the page says so
    /// and does not reload (it would wait forever).
    DryRun { service: String },
    /// `click` mode, a browser: the page with the button, its token bound to the service.
    Confirm { service: String, token: String },
    /// `click` mode, anything but a browser: 503, nothing woken.
    Asleep { service: String },
    /// The button was pressed and the service is waking: back to the page it was pressed on.
    Pressed { service: String },
    /// A press with a token this deployment did not issue for this service, an expired one, or
    /// one posted from another site: refused, nothing written.
    BadButton { service: String, why: String },
}

impl Answer {
    /// The service a `Waking` answer is for.
    pub fn waking(&self) -> Option<&str> {
        match self {
            Answer::Waking { service, .. } => Some(service),
            _ => None,
        }
    }
}

/// Services this process woke recently, and the waking groups' rules it read, so bursts cost
/// no AWS calls.
#[derive(Debug)]
pub struct RecentlyWoken {
    woken: Mutex<BTreeMap<String, (Instant, String, Progress)>>,
    rules: Mutex<BTreeMap<String, (Instant, Vec<ListenerRule>)>>,
    /// The buttons' key when the deployment gives none (`WAKE_TOKEN_KEY`): this process's own.
    tokens: Tokens,
}

impl Default for RecentlyWoken {
    fn default() -> RecentlyWoken {
        RecentlyWoken { woken: Mutex::default(), rules: Mutex::default(), tokens: Tokens::ephemeral() }
    }
}

impl RecentlyWoken {
    fn get(&self, service_arn: &str) -> Option<(String, Option<Progress>)> {
        let map = self.woken.lock().expect("recently woken poisoned");
        map.get(service_arn)
            .filter(|(at, _, _)| at.elapsed() < RECENTLY_WOKEN)
            .map(|(_, name, progress)| (name.clone(), Some(progress.clone())))
    }

    pub(super) fn insert(&self, service_arn: &str, service: &str, progress: &Progress) {
        let mut map = self.woken.lock().expect("recently woken poisoned");
        map.retain(|_, (at, _, _)| at.elapsed() < RECENTLY_WOKEN);
        map.insert(service_arn.to_string(), (Instant::now(), service.to_string(), progress.clone()));
    }

    fn rules(&self, target_group: &str) -> Option<Vec<ListenerRule>> {
        let map = self.rules.lock().expect("rules poisoned");
        map.get(target_group).filter(|(at, _)| at.elapsed() < RULES_KEPT).map(|(_, r)| r.clone())
    }

    fn keep_rules(&self, target_group: &str, rules: &[ListenerRule]) {
        let mut map = self.rules.lock().expect("rules poisoned");
        map.retain(|_, (at, _)| at.elapsed() < RULES_KEPT);
        map.insert(target_group.to_string(), (Instant::now(), rules.to_vec()));
    }
}

/// Decides and acts for one request: finds the service from the rule it came through, decides
/// how it may be woken, and restores it (and the rest of its environment) with a keep-alive from
/// the real `clock` when it may, starting nothing after `answer_by`.
pub async fn decide<F: Fleet>(
    config: &Config,
    fleet: &F,
    request: &AlbTargetGroupRequest,
    clock: DateTime<Utc>,
    recent: &RecentlyWoken,
    answer_by: std::time::Instant,
) -> Answer {
    let clock = crate::clock::whole_seconds(clock);
    let target_group = request.request_context.elb.target_group_arn.as_deref().filter(|t| !t.is_empty());
    let Some(target_group) = target_group else {
        return Answer::Refused { why: "the request did not come through a load balancer target group".into() };
    };
    let (id, rule) = match service_for(config, fleet, target_group, request, recent).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(why) = same_account_and_region(target_group, &id.arn) {
        tracing::warn!(target_group, service = %id.arn, "{why}");
        return Answer::Refused { why };
    }
    let own_key = config.wake_token_key.as_deref().map(|k| Tokens::new(k.as_bytes()));
    let knock = Knocked {
        request,
        knock: click::knock_of(request),
        host: click::host_of(request).unwrap_or_default(),
        tokens: own_key.as_ref().unwrap_or(&recent.tokens),
        clock,
        answer_by,
    };
    let answer = act(config, fleet, &knock, &id, &rule, recent).await;
    match answer {
        // The page's keep-awake buttons post the same kind of token as the wake button.
        Answer::Waking { service, progress: Some(mut p) } => {
            p.token = Some(knock.tokens.issue(&id.arn, &knock.host, clock));
            Answer::Waking { service, progress: Some(p) }
        }
        other => other,
    }
}

/// One request as the waker reads it, with what it answers by.
struct Knocked<'a> {
    request: &'a AlbTargetGroupRequest,
    knock: Knock,
    host: String,
    tokens: &'a Tokens,
    clock: DateTime<Utc>,
    answer_by: Instant,
}

/// What the request does to the service `id` it came for (and its environment).
async fn act<F: Fleet>(
    config: &Config,
    fleet: &F,
    k: &Knocked<'_>,
    id: &ServiceId,
    rule: &ListenerRule,
    recent: &RecentlyWoken,
) -> Answer {
    let extend = matches!(k.knock, Knock::Pressed { hours: Some(_), .. });
    if let (false, Some((service, progress))) = (extend, recent.get(&id.arn)) {
        return match k.knock {
            Knock::Pressed { .. } => Answer::Pressed { service },
            _ => Answer::Waking { service, progress },
        };
    }
    let before = Counters::read(fleet);
    let selector = Selector::Service { cluster: id.cluster.clone(), service: id.name.clone() };
    let observation = match crate::wake::select_together(fleet, config, &selector).await {
        Ok(o) => o,
        Err(e) => return Answer::Retrying { service: id.name.clone(), why: format!("reading the fleet failed: {e}") },
    };
    if let Knock::Pressed { token, hours: Some(hours) } = &k.knock {
        if let Err(why) = k.tokens.check(token, &id.arn, &k.host, k.clock) {
            tracing::warn!(service = %id, "{why}");
            return Answer::BadButton { service: id.name.clone(), why: why.into() };
        }
        return keep_awake::extend(config, fleet, id, *hours, (k.clock, k.answer_by), observation, before).await;
    }
    if mode_of(config, fleet, &observation, rule).await == WakeOn::Click {
        match &k.knock {
            Knock::Pressed { token, .. } => {
                if let Err(why) = k.tokens.check(token, &id.arn, &k.host, k.clock) {
                    tracing::warn!(service = %id, "{why}");
                    return Answer::BadButton { service: id.name.clone(), why: why.into() };
                }
            }
            Knock::Forged { why } => {
                tracing::warn!(service = %id, "{why}");
                return Answer::BadButton { service: id.name.clone(), why: (*why).into() };
            }
            Knock::Look if is_asleep(config, &observation) => {
                return if page::is_browser(k.request) {
                    Answer::Confirm { token: k.tokens.issue(&id.arn, &k.host, k.clock), service: id.name.clone() }
                } else {
                    Answer::Asleep { service: id.name.clone() }
                };
            }
            // Already woken (by the button, a run, an engineer): only its routing is left, and
            // the members of its environment still asleep (one waiting for another, `wake-after`).
            Knock::Look if !others_asleep(config, &observation) => {
                return route_back(config, fleet, id, &observation, k.clock).await
            }
            Knock::Look => {}
        }
        let answer = restore(config, fleet, id, (k.clock, k.answer_by), observation, before, recent).await;
        return match answer {
            Answer::Waking { service, .. } if matches!(k.knock, Knock::Pressed { .. }) => Answer::Pressed { service },
            other => other,
        };
    }
    restore(config, fleet, id, (k.clock, k.answer_by), observation, before, recent).await
}

/// The service's mode: its tags, its cluster's, its listener's (on the rule that took the
/// request), `WAKE_ON`; `auto` asks whether the rule's load balancer is internet-facing.
async fn mode_of<F: Fleet>(config: &Config, fleet: &F, observation: &Observation, rule: &ListenerRule) -> WakeOn {
    let empty = crate::model::Tags::new();
    let service = observation.services.first();
    let layers = [
        ("service", service.map_or(&empty, |s| &s.tags)),
        ("cluster", service.map_or(&empty, |s| &s.cluster_tags)),
        ("listener", &rule.listener_tags),
    ];
    let mut facing = None;
    let needs_scheme = config.wake_on == click::WakeOnSetting::Auto
        && layers.iter().all(|(_, tags)| !tags.contains_key(&config.tags.wake_on));
    if needs_scheme {
        match fleet.internet_facing(std::slice::from_ref(&rule.load_balancer)).await {
            Ok(schemes) => facing = schemes.get(&rule.load_balancer).copied(),
            Err(e) => {
                tracing::warn!(load_balancer = %rule.load_balancer, "its scheme is unknown, read as internet-facing: {e}")
            }
        }
    }
    let decided = click::decide_mode(&config.tags.wake_on, layers, config.wake_on, || facing);
    tracing::info!(mode = ?decided.mode, from = %decided.from, "wake-on mode");
    decided.mode
}

/// Whether the service sleeps by this tool (saved state, no task wanted): only then is a button shown.
fn is_asleep(config: &Config, observation: &Observation) -> bool {
    observation.services.first().is_some_and(|s| sleeping(config, s))
}

/// Put to sleep by this tool and still at zero.
fn sleeping(config: &Config, s: &crate::model::ObservedService) -> bool {
    s.desired == 0 && s.tags.contains_key(&config.tags.saved)
}

/// Whether a member of the asked service's environment is still asleep.
fn others_asleep(config: &Config, observation: &Observation) -> bool {
    observation.services.iter().skip(1).any(|s| sleeping(config, s))
}

/// A service already awake behind its waking rule: put its routing back once healthy, write nothing else.
async fn route_back<F: Fleet>(
    config: &Config,
    fleet: &F,
    id: &ServiceId,
    observation: &Observation,
    clock: DateTime<Utc>,
) -> Answer {
    if let (Some(routing), false) = (config.routing(), config.dry_run) {
        let done = crate::routing::release_services(fleet, &config.tags.saved, routing, std::slice::from_ref(id)).await;
        tracing::info!(service = %id, routing = ?done, "already awake");
    }
    Answer::Waking { service: id.name.clone(), progress: Some(Progress::of(config, observation, None, clock)) }
}

/// Restores the service as `wake` does, with the request's keep-alive.
async fn restore<F: Fleet>(
    config: &Config,
    fleet: &F,
    id: &ServiceId,
    (clock, answer_by): (DateTime<Utc>, Instant),
    observation: Observation,
    before: Counters,
    recent: &RecentlyWoken,
) -> Answer {
    let request = WakeRequest {
        selector: Selector::Service { cluster: id.cluster.clone(), service: id.name.clone() },
        until: keep_alive_until(clock, config.wake_on_request_minutes),
        now: clock,
        dry_run: config.dry_run,
        origin: WakeOrigin::Request,
    };
    let name = id.name.clone();
    let selected = observation.clone();
    let woken = wake_selected(fleet, config, &request, Some(answer_by), observation, before).await;
    let report = match settle(woken, &name, "cannot be woken by a request") {
        Ok(report) => report,
        Err(answer) => return answer,
    };
    crate::emf::publish(&report.summary, &report.summary);
    if request.dry_run {
        tracing::info!(service = %id, "dry run: a request would wake it; nothing written");
        return Answer::DryRun { service: name };
    }
    tracing::info!(service = %id, woken = report.summary.count(Reported::WokenByRequest), "woken by a request");
    let progress = Progress::of(config, &selected, Some(&report), clock);
    recent.insert(&id.arn, &id.name, &progress);
    Answer::Waking { service: name, progress: Some(progress) }
}

/// A wake the page asked for, as far as the page is concerned: its report when every service
/// went through; otherwise a retry for what may pass (a failed write, a failed read) or, for what
/// never will (protected, not managed), a refusal saying `service <cannot>`.
fn settle(
    result: Result<crate::wake::WakeReport, WakeError>,
    service: &str,
    cannot: &str,
) -> Result<crate::wake::WakeReport, Answer> {
    match result {
        Ok(report) if report.summary.failures().next().is_some() => {
            let why = report.summary.failures().filter_map(|f| f.error.clone()).collect::<Vec<_>>().join("; ");
            Err(Answer::Retrying { service: service.to_string(), why })
        }
        Ok(report) => Ok(report),
        Err(e @ WakeError::Discovery(_)) => Err(Answer::Retrying { service: service.to_string(), why: e.to_string() }),
        Err(e) => Err(Answer::Refused { why: format!("{service} {cannot}: {e}") }),
    }
}

/// The service whose swapped rule took `request` to `target_group`, read from the rule's tag.
async fn service_for<F: Fleet>(
    config: &Config,
    fleet: &F,
    target_group: &str,
    request: &AlbTargetGroupRequest,
    recent: &RecentlyWoken,
) -> Result<(ServiceId, ListenerRule), Answer> {
    let key = &config.tags.wakes;
    let retry =
        |e: crate::fleet::CallError| Answer::Retrying { service: "this environment".into(), why: e.to_string() };
    let rules = match recent.rules(target_group) {
        Some(rules) => rules,
        None => {
            let behind = fleet.load_balancers_of(&[target_group.to_string()]).await.map_err(retry)?;
            let mut lbs: Vec<String> = behind.into_iter().flat_map(|(_, lbs)| lbs).collect();
            if lbs.is_empty() {
                // Not every endpoint lists a group's load balancers when only rules use it (moto
                // does not): the tool's own group names its load balancer in its tags.
                let groups = fleet.waking_groups(&config.tags.made_by).await.map_err(retry)?;
                let this: Vec<_> = groups.into_iter().filter(|(g, _)| g == target_group).collect();
                lbs = crate::routing::served_load_balancers(&this, key, &config.tags.made_by);
            }
            let rules = fleet.listener_rules(&lbs, &[]).await.map_err(retry)?;
            recent.keep_rules(target_group, &rules);
            rules
        }
    };
    let swapped: Vec<&ListenerRule> =
        rules.iter().filter(|r| r.forwards_to == [target_group] && r.tags.contains_key(key.as_str())).collect();
    let named = |r: &ListenerRule| r.tags.get(key.as_str()).cloned().unwrap_or_default();
    let rule = match matching::rule_for(&swapped, &knock(request)) {
        Some(rule) => rule,
        // The conditions did not say (a header the load balancer dropped): one service only is fine.
        None => match swapped.iter().map(|r| named(r)).collect::<std::collections::BTreeSet<_>>() {
            one if one.len() == 1 => swapped[0],
            none if none.is_empty() => {
                return Err(Answer::Refused { why: "no sleeping service's rule forwards to this target group".into() })
            }
            _ => {
                return Err(Answer::Refused { why: "this request matches none of the sleeping services' rules".into() })
            }
        },
    };
    let arn = named(rule);
    let id = ServiceId::from_arn(&arn).ok_or_else(|| Answer::Refused {
        why: format!("the rule's {key} tag is not a service ARN: {}", crate::text::echo(&arn)),
    })?;
    Ok((id, rule.clone()))
}

/// The request as the rules see it: method, path, headers (lower-case names), decoded query.
fn knock(request: &AlbTargetGroupRequest) -> matching::Request {
    let mut headers: Vec<(String, String)> = Vec::new();
    for map in [&request.headers, &request.multi_value_headers] {
        for (name, value) in map.iter() {
            if let Ok(v) = value.to_str() {
                let pair = (name.as_str().to_ascii_lowercase(), v.to_string());
                if !headers.contains(&pair) {
                    headers.push(pair);
                }
            }
        }
    }
    let mut query: Vec<(String, String)> = Vec::new();
    for map in [&request.query_string_parameters, &request.multi_value_query_string_parameters] {
        for (k, v) in map.iter() {
            let pair = (percent_decode(k), percent_decode(v));
            if !query.contains(&pair) {
                query.push(pair);
            }
        }
    }
    matching::Request {
        method: request.http_method.as_str().to_string(),
        path: request.path.clone().unwrap_or_else(|| "/".into()),
        headers,
        query,
    }
}

/// ALB passes query strings to Lambda as they came, URL-encoded (`+` for a space).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The waking group lives in this function's own account and region (the request came through
/// it, and its tags were read with this function's credentials); the service it names must too.
/// A service ARN of another account or region is refused, never woken by its names here.
fn same_account_and_region(target_group_arn: &str, service_arn: &str) -> Result<(), String> {
    // arn:<partition>:<service>:<region>:<account>:<resource>
    let place = |arn: &str| {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        (parts.len() == 6).then(|| (parts[1].to_string(), parts[3].to_string(), parts[4].to_string()))
    };
    match (place(target_group_arn), place(service_arn)) {
        (Some(here), Some(there)) if here == there => Ok(()),
        (Some((_, region, account)), _) => Err(format!(
            "this target group names a service outside this account and region ({account}, {region}): {}; refused",
            crate::text::echo(service_arn)
        )),
        (None, _) => Err("the request's target group is not an ARN; refused".into()),
    }
}

/// A request as a load balancer sends it through `target_group` for `host` (tests).
#[cfg(test)]
pub(crate) fn knock_for(target_group: &str, host: &str) -> AlbTargetGroupRequest {
    let mut r = AlbTargetGroupRequest::default();
    r.http_method = Method::GET;
    r.path = Some("/".into());
    r.headers.insert(ACCEPT, HeaderValue::from_static("text/html"));
    r.headers.insert("host", HeaderValue::from_str(host).expect("a valid host"));
    r.request_context.elb.target_group_arn = Some(target_group.to_string());
    r
}

/// An answer-by far enough away never to cut a test's wake short.
#[cfg(test)]
pub(crate) fn test_deadline() -> std::time::Instant {
    std::time::Instant::now() + StdDuration::from_secs(600)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod burst_tests;

#[cfg(test)]
mod environment_page_tests;
