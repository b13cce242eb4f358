//! The waker: the Application Load Balancer target behind a sleeping service's waking rule.
//!
//! An ALB event names the target group that routed it, and nothing about the rule or the
//! service, so each sleeping service gets a waking target group of its own, tagged
//! `cost-saver:wakes=<service ARN>`. The service is read from that tag, never from the request's
//! Host header. A request to it restores the service through the same path as `wake`, with a
//! keep-alive of `WAKE_ON_REQUEST_MINUTES`, and is answered at once:
//! - `GET`/`HEAD` asking for HTML: a small page, "<service> is waking up", that reloads itself
//!   until the application answers in its place;
//! - anything else (an API call, a webhook): `503` with `Retry-After`; it wakes the service too.
//!
//! A service that cannot be woken this way (protected, out of scope, deleted, or a target group
//! that is not the tool's) gets a page that does not reload: the waker never loops.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{HeaderMap, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use aws_lambda_events::http::Method;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::fleet::{Fleet, Selector};
use crate::keep_alive::keep_alive_until;
use crate::model::{Reported, ServiceId};
use crate::wake::{wake, WakeError, WakeOrigin, WakeRequest};

/// How often the waking page reloads itself, and what `Retry-After` says.
pub const RETRY_SECONDS: u32 = 10;

/// A warm waker that just woke a service answers further requests for it from memory for this
/// long: a burst of page loads wakes once and reads the fleet once.
const RECENTLY_WOKEN: StdDuration = StdDuration::from_secs(30);

/// What the waker decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The service is waking (or awake, its routing not yet restored): reload until it answers.
    Waking { service: String },
    /// A transient problem (AWS throttled, a write failed): reload and try again.
    Retrying { service: String, why: String },
    /// This request cannot wake anything: a page that does not reload.
    Refused { why: String },
    /// The function only plans (`DRY_RUN=true`): the service stays asleep, and the page says so
    /// and does not reload (it would wait forever).
    DryRun { service: String },
}

/// Waking target groups this process woke recently, so bursts cost no AWS calls.
#[derive(Debug, Default)]
pub struct RecentlyWoken(Mutex<BTreeMap<String, (Instant, String)>>);

impl RecentlyWoken {
    fn get(&self, target_group: &str) -> Option<String> {
        let map = self.0.lock().expect("recently woken poisoned");
        map.get(target_group).filter(|(at, _)| at.elapsed() < RECENTLY_WOKEN).map(|(_, name)| name.clone())
    }

    fn insert(&self, target_group: &str, service: &str) {
        let mut map = self.0.lock().expect("recently woken poisoned");
        map.retain(|_, (at, _)| at.elapsed() < RECENTLY_WOKEN);
        map.insert(target_group.to_string(), (Instant::now(), service.to_string()));
    }
}

/// Decides and acts for one request: finds the service from the waking target group's tag and
/// restores it with a keep-alive from the real `clock`.
pub async fn decide<F: Fleet>(
    config: &Config,
    fleet: &F,
    target_group: Option<&str>,
    clock: DateTime<Utc>,
    recent: &RecentlyWoken,
) -> Answer {
    let clock = crate::clock::whole_seconds(clock);
    let Some(target_group) = target_group.filter(|t| !t.is_empty()) else {
        return Answer::Refused { why: "the request did not come through a load balancer target group".into() };
    };
    if let Some(service) = recent.get(target_group) {
        return Answer::Waking { service };
    }
    let id: ServiceId = match fleet.woken_by(target_group, &config.tags.wakes).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Answer::Refused {
                why: format!("this target group carries no {} tag: it wakes no service", config.tags.wakes),
            }
        }
        Err(e) => return Answer::Retrying { service: "this environment".into(), why: e.to_string() },
    };
    if let Err(why) = same_account_and_region(target_group, &id.arn) {
        tracing::warn!(target_group, service = %id.arn, "{why}");
        return Answer::Refused { why };
    }
    let request = WakeRequest {
        selector: Selector::Service { cluster: id.cluster.clone(), service: id.name.clone() },
        until: keep_alive_until(clock, config.wake_on_request_minutes),
        now: clock,
        dry_run: config.dry_run,
        origin: WakeOrigin::Request,
    };
    match wake(fleet, config, &request, None).await {
        Ok(report) if report.summary.failures().next().is_some() => {
            let why = report.summary.failures().filter_map(|f| f.error.clone()).collect::<Vec<_>>().join("; ");
            Answer::Retrying { service: id.name, why }
        }
        Ok(report) => {
            crate::emf::publish(&report.summary, &report.summary);
            if request.dry_run {
                tracing::info!(service = %id, "dry run: a request would wake it; nothing written");
                return Answer::DryRun { service: id.name };
            }
            tracing::info!(service = %id, woken = report.summary.count(Reported::WokenByRequest), "woken by a request");
            recent.insert(target_group, &id.name);
            Answer::Waking { service: id.name }
        }
        Err(e @ WakeError::Discovery(_)) => Answer::Retrying { service: id.name, why: e.to_string() },
        Err(e) => Answer::Refused { why: format!("{} cannot be woken by a request: {e}", id.name) },
    }
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

/// The HTTP answer to one request.
pub fn respond(request: &AlbTargetGroupRequest, answer: &Answer) -> AlbTargetGroupResponse {
    let wants_page = matches!(request.http_method, Method::GET | Method::HEAD) && accepts_html(&request.headers);
    let reloads = answer.reloads();
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if reloads {
        headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_SECONDS));
    }
    let (content_type, body) = if wants_page {
        ("text/html; charset=utf-8", page(answer))
    } else {
        ("text/plain; charset=utf-8", format!("{}\n", headline(answer)))
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut response = AlbTargetGroupResponse::default();
    response.status_code = 503;
    response.status_description = Some("503 Service Unavailable".into());
    response.headers = headers;
    response.body = (request.http_method != Method::HEAD).then_some(Body::Text(body));
    response.is_base64_encoded = false;
    response
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"))
}

fn headline(answer: &Answer) -> String {
    match answer {
        Answer::Waking { service } => format!("{service} is waking up, usually about a minute."),
        Answer::Retrying { service, .. } => format!("{service} is waking up; it is taking longer than usual."),
        Answer::Refused { why } => format!("Nothing to wake here: {why}."),
        Answer::DryRun { service } => format!("{service} is asleep, and this deployment only plans (DRY_RUN=true)."),
    }
}

impl Answer {
    /// Whether waiting helps: the page reloads itself and `Retry-After` is sent.
    fn reloads(&self) -> bool {
        matches!(self, Answer::Waking { .. } | Answer::Retrying { .. })
    }
}

/// A self-contained page (no scripts, no external resources) that reloads itself while the
/// service wakes; the refused and dry-run pages do not reload.
pub fn page(answer: &Answer) -> String {
    let reload = if answer.reloads() {
        format!(r#"<meta http-equiv="refresh" content="{RETRY_SECONDS}">"#)
    } else {
        String::new()
    };
    let detail = match answer {
        Answer::Waking { .. } => format!("This page reloads itself every {RETRY_SECONDS} seconds until it is ready."),
        Answer::Retrying { why, .. } => {
            format!("This page keeps trying every {RETRY_SECONDS} seconds. ({})", crate::text::echo(why))
        }
        Answer::Refused { .. } => "Ask the team that runs this environment.".into(),
        Answer::DryRun { .. } => {
            "Nothing is woken while the functions only plan: waiting will not help. Ask the team that runs this \
environment to wake it (the wake function or a keep-alive tag) or to turn off DRY_RUN."
                .into()
        }
    };
    let title = headline(answer);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">{reload}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:15vh auto;max-width:36em;padding:0 1em;color:#222}}
h1{{font-size:1.4em}}p{{color:#555}}</style></head>
<body><h1>{title}</h1><p>{detail}</p></body></html>
"#,
        title = escape(&title),
        detail = escape(&detail),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
