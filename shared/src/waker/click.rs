//! Click to wake (`WAKE_ON=click`): a request to a sleeping service gets a page with a button, and
//! nothing is written until the page's `POST` comes back with a token only this deployment can
//! make, bound to the service and the host it was shown on, valid for `TOKEN_MINUTES`. Scanners
//! and link checkers (a request every 30 minutes left a week's preview 21.7% saved instead of
//! 64.3%) never press it; a forged or replayed `POST` from another site is refused.

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::http::Method;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::model::Tags;

// The settings live with the configuration, which reads them before any waker runs.
pub use crate::config::{WakeOn, WakeOnSetting};

/// Where the mode came from, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub mode: WakeOn,
    pub from: String,
}

/// The mode for one service: its own `wake-on` tag, else its cluster's, else its listener's,
/// else `WAKE_ON`; `auto` asks `internet_facing` (only then). A value other than `visit` or
/// `click` counts as `click` (a scanner can then never wake it) and says so.
pub fn decide_mode(
    key: &str,
    layers: [(&str, &Tags); 3],
    setting: WakeOnSetting,
    internet_facing: impl FnOnce() -> Option<bool>,
) -> Decided {
    for (place, tags) in layers {
        if let Some(value) = tags.get(key) {
            return match WakeOnSetting::parse(value) {
                Ok(WakeOnSetting::Fixed(mode)) => Decided { mode, from: format!("{key}={value} on the {place}") },
                _ => Decided {
                    mode: WakeOn::Click,
                    from: format!(
                        "{key}={} on the {place} is not `visit` or `click`: read as `click`",
                        crate::text::echo(value)
                    ),
                },
            };
        }
    }
    match setting {
        WakeOnSetting::Fixed(mode) => Decided { mode, from: "WAKE_ON".into() },
        WakeOnSetting::Auto => match internet_facing() {
            Some(false) => Decided { mode: WakeOn::Visit, from: "WAKE_ON=auto, an internal load balancer".into() },
            Some(true) => {
                Decided { mode: WakeOn::Click, from: "WAKE_ON=auto, an internet-facing load balancer".into() }
            }
            None => Decided { mode: WakeOn::Click, from: "WAKE_ON=auto, the load balancer's scheme unknown".into() },
        },
    }
}

/// How long a button's token is good for: long enough to read the page, short enough that a
/// copied form is useless by the time anyone replays it.
pub const TOKEN_MINUTES: i64 = 10;

/// The form field the page posts.
pub const FIELD: &str = "cost-saver-wake";

/// The keep-awake buttons' field: how many hours from now.
pub const HOURS_FIELD: &str = "hours";

/// Signs and checks the buttons' tokens with this deployment's key.
#[derive(Clone)]
pub struct Tokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<key>)")
    }
}

impl Tokens {
    pub fn new(key: &[u8]) -> Tokens {
        Tokens { key: key.to_vec() }
    }

    /// A key for this process only, when the deployment gives none (a local run): tokens then
    /// hold only within this process.
    pub fn ephemeral() -> Tokens {
        use std::hash::{BuildHasher, Hasher};
        let mut key = Vec::with_capacity(32);
        for i in 0..4u64 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            key.extend_from_slice(&h.finish().to_le_bytes());
        }
        Tokens { key }
    }

    fn mac(&self, service_arn: &str, host: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("wake\n{service_arn}\n{}\n{expires}", host.to_ascii_lowercase()).as_bytes());
        mac
    }

    /// A token for a button shown at `now` for `service_arn` on `host`.
    pub fn issue(&self, service_arn: &str, host: &str, now: DateTime<Utc>) -> String {
        let expires = now.timestamp() + TOKEN_MINUTES * 60;
        let tag = self.mac(service_arn, host, expires).finalize().into_bytes();
        format!("{expires}.{}", hex::encode(tag))
    }

    /// Whether `token` was issued by this deployment for `service_arn` on `host`, and is still good.
    pub fn check(&self, token: &str, service_arn: &str, host: &str, now: DateTime<Utc>) -> Result<(), &'static str> {
        let (expires, tag) = token.split_once('.').ok_or("the wake button's token is malformed")?;
        let expires: i64 = expires.parse().map_err(|_| "the wake button's token is malformed")?;
        let tag = hex::decode(tag).map_err(|_| "the wake button's token is malformed")?;
        // Constant time: the comparison says nothing about how close a forgery came.
        self.mac(service_arn, host, expires)
            .verify_slice(&tag)
            .map_err(|_| "the wake button's token is not this deployment's for this service")?;
        if now.timestamp() > expires || expires - now.timestamp() > TOKEN_MINUTES * 60 {
            return Err("the wake button's token has expired");
        }
        Ok(())
    }
}

/// What a request to a service in click mode asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Knock {
    /// The page's button: a `POST` with a token (checked by the caller against the service);
    /// `hours` from a keep-awake button.
    Pressed { token: String, hours: Option<u32> },
    /// A `POST` that is not the page's button, or comes from another site.
    Forged { why: &'static str },
    /// Anything else: a browser gets the button, others a 503.
    Look,
}

/// Reads a request as the button page sees it: the form's field, from this same site.
pub fn knock_of(request: &AlbTargetGroupRequest) -> Knock {
    if request.http_method != Method::POST {
        return Knock::Look;
    }
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if header("sec-fetch-site").is_some_and(|s| s != "same-origin") {
        return Knock::Forged { why: "the wake button was pressed on another site" };
    }
    if let (Some(origin), Some(host)) = (header("origin"), host_of(request)) {
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(&origin);
        if origin_host != host.to_ascii_lowercase() {
            return Knock::Forged { why: "the wake button was pressed on another site" };
        }
    }
    let body = match (&request.body, request.is_base64_encoded) {
        (Some(b), true) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default(),
        (Some(b), false) => b.clone(),
        (None, _) => String::new(),
    };
    let field = |name: &str| {
        body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name)
                .then(|| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
        })
    };
    // A keep-awake button's hours; anything but a whole number is no keep-awake at all.
    let hours = field(HOURS_FIELD).and_then(|h| h.trim().parse::<u32>().ok());
    match field(FIELD) {
        Some(token) => Knock::Pressed { token, hours },
        None => Knock::Forged { why: "this request is not the wake button's" },
    }
}

/// The `Host` the request was sent to (the load balancer passes it on).
pub fn host_of(request: &AlbTargetGroupRequest) -> Option<String> {
    request.headers.get("host").and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::http::HeaderValue;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web";
    const HOST: &str = "pr-101.previews.example.com";

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_token_holds_for_its_service_and_host_for_ten_minutes_only() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef");
        let now = at("2026-11-20T21:00:00Z");
        let t = tokens.issue(ARN, HOST, now);
        assert_eq!(tokens.check(&t, ARN, HOST, now + chrono::Duration::minutes(9)), Ok(()));
        assert_eq!(tokens.check(&t, ARN, &HOST.to_uppercase(), now), Ok(()), "host names are case-insensitive");
        assert!(tokens.check(&t, ARN, HOST, now + chrono::Duration::minutes(11)).unwrap_err().contains("expired"));
        let other = ARN.replace("pr-101", "pr-102");
        assert!(tokens.check(&t, &other, HOST, now).unwrap_err().contains("not this deployment's"));
        assert!(tokens.check(&t, ARN, "evil.example.com", now).is_err());
        assert!(Tokens::new(b"another key").check(&t, ARN, HOST, now).is_err(), "another deployment's key");
        let (expires, tag) = t.split_once('.').unwrap();
        let later: i64 = expires.parse::<i64>().unwrap() + 3600;
        assert!(tokens.check(&format!("{later}.{tag}"), ARN, HOST, now).is_err(), "its expiry is signed");
        for junk in ["", ".", "abc", "1.zz", "99999999999999999999.00"] {
            assert!(tokens.check(junk, ARN, HOST, now).is_err(), "{junk:?}");
        }
    }

    fn post(body: &str, headers: &[(&'static str, &str)]) -> AlbTargetGroupRequest {
        let mut r = AlbTargetGroupRequest::default();
        r.http_method = Method::POST;
        r.headers.insert("host", HeaderValue::from_static(HOST));
        for (k, v) in headers {
            r.headers.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        r.body = Some(body.into());
        r
    }

    #[test]
    fn only_the_pages_own_post_from_the_same_site_presses_the_button() {
        let pressed = |r| matches!(knock_of(&r), Knock::Pressed { token, .. } if token == "1.ab");
        assert!(pressed(post("cost-saver-wake=1.ab", &[])));
        assert!(pressed(post("x=1&cost-saver-wake=1%2Eab", &[("origin", "https://pr-101.previews.example.com")])));
        assert!(pressed(post("cost-saver-wake=1.ab", &[("sec-fetch-site", "same-origin")])));
        let mut encoded = post(&base64::engine::general_purpose::STANDARD.encode("cost-saver-wake=1.ab"), &[]);
        encoded.is_base64_encoded = true;
        assert!(pressed(encoded));
        for forged in [
            post("cost-saver-wake=1.ab", &[("origin", "https://evil.example.com")]),
            post("cost-saver-wake=1.ab", &[("sec-fetch-site", "cross-site")]),
            post("something=else", &[]),
        ] {
            assert!(matches!(knock_of(&forged), Knock::Forged { .. }), "{forged:?}");
        }
        let mut get = post("", &[]);
        get.http_method = Method::GET;
        assert_eq!(knock_of(&get), Knock::Look);
    }

    #[test]
    fn the_service_tag_wins_then_the_cluster_then_the_listener_then_wake_on() {
        let key = "cost-saver:wake-on";
        let tags = |v: &str| -> Tags { [(key.to_string(), v.to_string())].into() };
        let none = Tags::new();
        let d = |s: &Tags, c: &Tags, l: &Tags, setting, facing: Option<bool>| {
            decide_mode(key, [("service", s), ("cluster", c), ("listener", l)], setting, || facing)
        };
        let auto = WakeOnSetting::Auto;
        assert_eq!(d(&tags("visit"), &tags("click"), &tags("click"), auto, Some(true)).mode, WakeOn::Visit);
        assert_eq!(d(&none, &tags("visit"), &tags("click"), auto, Some(true)).mode, WakeOn::Visit);
        assert_eq!(d(&none, &none, &tags("visit"), auto, Some(true)).mode, WakeOn::Visit);
        assert_eq!(d(&none, &none, &none, WakeOnSetting::Fixed(WakeOn::Visit), Some(true)).mode, WakeOn::Visit);
        assert_eq!(d(&none, &none, &none, auto, Some(true)).mode, WakeOn::Click);
        assert_eq!(d(&none, &none, &none, auto, Some(false)).mode, WakeOn::Visit);
        assert_eq!(d(&none, &none, &none, auto, None).mode, WakeOn::Click, "unknown: the safer mode");
        let odd = d(&tags("Visit "), &none, &none, WakeOnSetting::Fixed(WakeOn::Visit), None);
        assert_eq!(odd.mode, WakeOn::Click);
        assert!(odd.from.contains("read as `click`"), "{}", odd.from);
        assert_eq!(WakeOnSetting::parse("auto"), Ok(WakeOnSetting::Auto));
        assert!(WakeOnSetting::parse("clicks").is_err());
    }
}
