//! The waker's HTTP answers: self-contained pages (no external resources; the waking page's one
//! small inline script only shows times in the viewer's zone) for browsers, one line of text for
//! everything else.

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{
    HeaderMap, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use aws_lambda_events::http::Method;

use super::click::FIELD;
use super::{Answer, RETRY_SECONDS};

/// The HTTP answer to one request.
pub fn respond(request: &AlbTargetGroupRequest, answer: &Answer) -> AlbTargetGroupResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut response = AlbTargetGroupResponse::default();
    response.is_base64_encoded = false;
    if let Answer::Pressed { .. } = answer {
        // Post/redirect/get: the browser then shows the reloading page, and a reload never posts again.
        let back = back_to(request);
        if let Ok(location) = HeaderValue::from_str(&back) {
            headers.insert(LOCATION, location);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response.status_code = 303;
        response.status_description = Some("303 See Other".into());
        response.headers = headers;
        response.body = Some(Body::Text(format!("{}\n", headline(answer))));
        return response;
    }
    let wants_page = is_browser(request) || matches!(answer, Answer::BadButton { .. });
    if answer.reloads() {
        headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_SECONDS));
    }
    let (content_type, body) = if wants_page {
        ("text/html; charset=utf-8", page(answer, &back_to(request)))
    } else {
        ("text/plain; charset=utf-8", format!("{}\n", headline(answer)))
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let (code, description) = match answer {
        Answer::BadButton { .. } => (403, "403 Forbidden"),
        _ => (503, "503 Service Unavailable"),
    };
    response.status_code = code;
    response.status_description = Some(description.into());
    response.headers = headers;
    response.body = (request.http_method != Method::HEAD).then_some(Body::Text(body));
    response
}

/// The path and query the request came for (the button posts there, and the answer to the post
/// sends the browser back there). Only a path: never a redirect to another site.
fn back_to(request: &AlbTargetGroupRequest) -> String {
    let path = request.path.as_deref().filter(|p| p.starts_with('/') && !p.starts_with("//")).unwrap_or("/");
    let mut query: Vec<String> = request
        .query_string_parameters
        .iter()
        .map(|(k, v)| if v.is_empty() { k.to_string() } else { format!("{k}={v}") })
        .collect();
    query.sort();
    let path: String = path.chars().filter(|c| !c.is_control()).collect();
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A browser loading a page: `GET`/`HEAD` accepting HTML.
pub(super) fn is_browser(request: &AlbTargetGroupRequest) -> bool {
    matches!(request.http_method, Method::GET | Method::HEAD) && accepts_html(&request.headers)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"))
}

pub(super) fn headline(answer: &Answer) -> String {
    match answer {
        Answer::Waking { service, progress } => {
            match progress.as_ref().and_then(|p| p.environment.as_ref().filter(|_| p.members.len() > 1)) {
                Some(env) => format!("{env} is waking up, usually about a minute."),
                None => format!("{service} is waking up, usually about a minute."),
            }
        }
        Answer::Retrying { service, .. } => format!("{service} is waking up; it is taking longer than usual."),
        Answer::Refused { why } => format!("Nothing to wake here: {why}."),
        Answer::DryRun { service } => format!("{service} is asleep, and this deployment only plans (DRY_RUN=true)."),
        Answer::Confirm { service, .. } => format!("{service} is asleep."),
        Answer::Asleep { service } => {
            format!("{service} is asleep; open it in a browser and press its Wake button to wake it.")
        }
        Answer::Pressed { service } => format!("{service} is waking up."),
        Answer::BadButton { service, .. } => format!("This button cannot wake {service}."),
    }
}

/// A self-contained page: it reloads itself while the service wakes; the button page posts once
/// when pressed; the others do not reload.
pub fn page(answer: &Answer, back: &str) -> String {
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
        Answer::Confirm { .. } | Answer::Asleep { .. } => {
            "It sleeps to save money while nobody uses it. Waking it takes about a minute; this page then shows it."
                .into()
        }
        Answer::Pressed { .. } => String::new(),
        Answer::BadButton { why, .. } => format!("{why}. Reload the page for a new button."),
    };
    let title = headline(answer);
    let action = match answer {
        Answer::Confirm { service, token } => format!(
            r#"<form method="post" action="{back}"><input type="hidden" name="{FIELD}" value="{token}"><button type="submit">Wake {service} (about a minute)</button></form>"#,
            back = escape(back),
            token = escape(token),
            service = escape(service),
        ),
        Answer::BadButton { .. } => format!(r#"<p><a href="{}">Reload</a></p>"#, escape(back)),
        Answer::Waking { progress: Some(p), .. } => super::progress_page::render(p, back),
        _ => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">{reload}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:15vh auto;max-width:36em;padding:0 1em;color:#222}}
h1{{font-size:1.4em}}p{{color:#555}}button{{font-size:1.1em;padding:.6em 1.2em;border-radius:.4em;border:1px solid #2a6;background:#2a6;color:#fff;cursor:pointer}}
{progress_style}</style></head>
<body><h1>{title}</h1><p>{detail}</p>{action}</body></html>
"#,
        title = escape(&title),
        detail = escape(&detail),
        progress_style = super::progress_page::STYLE,
    )
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Answer {
    /// Whether waiting helps: the page reloads itself and `Retry-After` is sent.
    pub(super) fn reloads(&self) -> bool {
        matches!(self, Answer::Waking { .. } | Answer::Retrying { .. })
    }
}
