//! Which of the tool's swapped rules a request came through, evaluated as the load balancer does:
//! one waking target group serves every sleeping service of a load balancer, and the request the
//! waker receives names that group only, so the waker asks the rules (lowest priority number
//! first) which one matched. Semantics as Elastic Load Balancing documents them: host names and
//! header and query values compare case-insensitively, paths and methods exactly, `*` and `?`
//! wildcards, values of one condition OR, conditions of a rule AND; `source-ip` against the
//! client address the load balancer appends last to `X-Forwarded-For`.

use std::net::IpAddr;

use crate::model::{ListenerRule, RuleCondition};

/// What the waker knows of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-case.
    pub headers: Vec<(String, String)>,
    /// Decoded.
    pub query: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> impl Iterator<Item = &str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(move |(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The listener port that took it, from `x-forwarded-port`.
    pub fn port(&self) -> Option<u16> {
        self.header("x-forwarded-port").next()?.trim().parse().ok()
    }
}

/// The rule among `rules` (all on one load balancer) that took `request`: on the listener of its
/// port (any, when the request does not say), every condition matching, the lowest priority
/// number first.
pub fn rule_for<'a>(rules: &'a [&'a ListenerRule], request: &Request) -> Option<&'a ListenerRule> {
    let port = request.port();
    rules
        .iter()
        .copied()
        .filter(|r| port.is_none() || r.port.is_none() || r.port == port)
        .filter(|r| r.conditions.iter().all(|c| matches(c, request)))
        .min_by_key(|r| r.priority.unwrap_or(u32::MAX))
}

pub fn matches(c: &RuleCondition, request: &Request) -> bool {
    match c.field.as_str() {
        "host-header" => {
            let host = request.header("host").next().unwrap_or_default();
            let host = strip_port(host);
            c.values.iter().any(|v| glob(&v.to_ascii_lowercase(), &host.to_ascii_lowercase()))
        }
        "path-pattern" => c.values.iter().any(|v| glob(v, &request.path)),
        "http-request-method" => c.values.contains(&request.method),
        "http-header" => {
            let Some(name) = &c.header else { return false };
            request
                .header(name)
                .any(|have| c.values.iter().any(|v| glob(&v.to_ascii_lowercase(), &have.to_ascii_lowercase())))
        }
        "query-string" => c.pairs.iter().any(|(key, value)| {
            request.query.iter().any(|(k, v)| {
                key.as_ref().is_none_or(|key| glob(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()))
                    && glob(&value.to_ascii_lowercase(), &v.to_ascii_lowercase())
            })
        }),
        "source-ip" => {
            let client = request.header("x-forwarded-for").last().and_then(|v| v.rsplit(',').next());
            let Some(ip) = client.and_then(|c| c.trim().parse::<IpAddr>().ok()) else { return false };
            c.values.iter().any(|cidr| in_cidr(ip, cidr))
        }
        _ => false,
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        // A bare IPv6 address has colons of its own.
        Some((name, _)) if name.contains(':') && !name.ends_with(']') => host,
        Some((name, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `*` any run of characters, `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    match (ip, net.parse::<IpAddr>()) {
        (IpAddr::V4(a), Ok(IpAddr::V4(n))) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), Ok(IpAddr::V6(n))) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tags;

    fn cond(field: &str, values: &[&str]) -> RuleCondition {
        RuleCondition {
            field: field.into(),
            header: None,
            values: values.iter().map(|v| v.to_string()).collect(),
            pairs: vec![],
        }
    }

    fn rule(arn: &str, priority: u32, port: u16, conditions: Vec<RuleCondition>) -> ListenerRule {
        ListenerRule {
            arn: arn.into(),
            listener: format!("listener-{port}"),
            load_balancer: "lb".into(),
            port: Some(port),
            priority: Some(priority),
            conditions,
            forwards_to: vec![],
            forward: None,
            tags: Tags::new(),
            listener_tags: Tags::new(),
            unsupported: None,
        }
    }

    fn request(host: &str, path: &str, port: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            headers: vec![("host".into(), host.into()), ("x-forwarded-port".into(), port.into())],
            query: vec![],
        }
    }

    #[test]
    fn wildcards_match_as_the_load_balancer_does() {
        assert!(glob("pr-*.preview.example.com", "pr-101.preview.example.com"));
        assert!(glob("/api/*", "/api/v1/users"));
        assert!(glob("/v?/x", "/v2/x"));
        assert!(!glob("/v?/x", "/v22/x"));
        assert!(!glob("/api/*", "/apix"));
        assert!(glob("*", ""));
    }

    #[test]
    fn the_lowest_priority_number_whose_conditions_all_match_on_the_request_s_listener_wins() {
        let web = rule("web", 20, 443, vec![cond("host-header", &["pr-101.example.com"])]);
        let api =
            rule("api", 10, 443, vec![cond("host-header", &["PR-101.example.com"]), cond("path-pattern", &["/api/*"])]);
        let other = rule("other", 5, 80, vec![cond("host-header", &["pr-101.example.com"])]);
        let rules = [&web, &api, &other];
        let pick = |host, path, port| rule_for(&rules, &request(host, path, port)).map(|r| r.arn.clone());
        assert_eq!(pick("pr-101.example.com", "/api/users", "443").as_deref(), Some("api"));
        assert_eq!(pick("pr-101.example.com:443", "/", "443").as_deref(), Some("web"));
        assert_eq!(pick("pr-101.example.com", "/API/users", "443").as_deref(), Some("web"), "paths are case-sensitive");
        assert_eq!(pick("pr-101.example.com", "/", "80").as_deref(), Some("other"));
        assert_eq!(pick("pr-102.example.com", "/", "443"), None);
    }

    #[test]
    fn headers_queries_methods_and_source_addresses_match_too() {
        let mut header = cond("http-header", &["*Chrome*"]);
        header.header = Some("User-Agent".into());
        let mut query = cond("query-string", &[]);
        query.pairs = vec![(Some("pr".into()), "1?1".into())];
        let r = Request {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![
                ("user-agent".into(), "Mozilla/5.0 chrome/120".into()),
                ("x-forwarded-for".into(), "203.0.113.9, 10.0.0.7".into()),
            ],
            query: vec![("PR".into(), "101".into())],
        };
        assert!(matches(&header, &r));
        assert!(matches(&query, &r));
        assert!(matches(&cond("http-request-method", &["POST"]), &r));
        assert!(!matches(&cond("http-request-method", &["post"]), &r));
        assert!(matches(&cond("source-ip", &["10.0.0.0/8"]), &r), "the client is the last address");
        assert!(!matches(&cond("source-ip", &["203.0.113.0/24"]), &r));
        assert!(!matches(&cond("a-field-from-the-future", &["x"]), &r));
    }
}
