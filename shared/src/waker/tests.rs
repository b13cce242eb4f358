use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};

use crate::wake::wake;

use super::*;
use crate::fleet::ReadFleet;
use crate::memory::{MemoryFleet, MemoryService};
use chrono::Duration;

const WAKES: &str = "cost-saver:wakes";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
const WAKING_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/csw-previews/0123456789abcdef";
const HOST: &str = "pr-101.previews.example.com";
const WEB_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-101-web/1";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|_| None).unwrap()
}

/// Far enough away never to cut a test's wake short.
fn later() -> Instant {
    Instant::now() + StdDuration::from_secs(600)
}

/// A rule swapped to the waking group for `service_arn`, on `host`.
fn swapped(f: &MemoryFleet, arn: &str, host: &str, priority: u32, service_arn: &str) {
    f.add_rule("tmp", LB, LISTENER, Some(priority), host, WAKING_TG);
    let mut rule = f.rules().into_iter().find(|r| r.arn == "tmp").unwrap();
    f.remove_rule("tmp");
    rule.arn = arn.into();
    rule.tags.insert(WAKES.into(), service_arn.into());
    rule.tags.insert(format!("{WAKES}-forward"), WEB_TG.into());
    f.add_rule_as_is(rule);
}

fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_cluster("prod", &[("Environment", "prod")]);
    f.add_service(
        MemoryService::new("previews", "pr-101-web", 0)
            .tag("cost-saver:saved", "desired=2 at=2026-11-20T20:00:00Z")
            .behind(WEB_TG),
    );
    f.add_target_group(WEB_TG, false);
    f.add_service(MemoryService::new("prod", "checkout", 3));
    f.add_tagged_target_group(WAKING_TG, &[("cost-saver:made-by", "ecs-cost-saver"), (WAKES, LB)]);
    swapped(&f, "rule-101", HOST, 10, "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web");
    swapped(&f, "rule-prod", "checkout.example.com", 20, "arn:aws:ecs:us-east-1:123456789012:service/prod/checkout");
    f.add_tagged_target_group(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-app/00000000000000bb",
        &[("team", "web")],
    );
    f
}

fn request(method: Method, accept: &str) -> AlbTargetGroupRequest {
    knock(method, accept, Some(WAKING_TG), HOST)
}

fn knock(method: Method, accept: &str, target_group: Option<&str>, host: &str) -> AlbTargetGroupRequest {
    let mut r = AlbTargetGroupRequest::default();
    r.http_method = method;
    r.path = Some("/".into());
    r.headers.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
    r.headers.insert("host", HeaderValue::from_str(host).unwrap());
    r.headers.insert("x-forwarded-port", HeaderValue::from_static("443"));
    r.request_context.elb.target_group_arn = target_group.map(str::to_string);
    r
}

fn get() -> AlbTargetGroupRequest {
    request(Method::GET, "text/html")
}

fn body(r: &AlbTargetGroupResponse) -> String {
    match &r.body {
        Some(Body::Text(t)) => t.clone(),
        other => panic!("no text body: {other:?}"),
    }
}

#[test]
fn keep_alives_round_up_to_ten_minutes_so_a_burst_writes_one() {
    assert_eq!(keep_alive_until(at("2026-11-20T21:00:00Z"), 60), at("2026-11-20T22:00:00Z"));
    assert_eq!(keep_alive_until(at("2026-11-20T21:00:01Z"), 60), at("2026-11-20T22:10:00Z"));
    assert_eq!(keep_alive_until(at("2026-11-20T21:09:59.5Z"), 60), at("2026-11-20T22:10:00Z"));
}

#[tokio::test]
async fn a_request_restores_its_service_with_a_keep_alive_and_answers_a_reloading_page() {
    let (f, c, recent) = (fleet(), config(), RecentlyWoken::default());
    let clock = at("2026-11-20T21:03:00Z");
    let answer = decide(&c, &f, &get(), clock, &recent, later()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
    let web = f.service("previews", "pr-101-web");
    assert_eq!(web.desired, 2, "restored");
    assert_eq!(web.tags["cost-saver:keep-alive"], "2026-11-20T22:10:00Z");
    assert!(!web.tags.contains_key("cost-saver:saved"));

    let page = respond(&request(Method::GET, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"), &answer);
    assert_eq!(page.status_code, 503);
    assert_eq!(page.headers[RETRY_AFTER], "10");
    assert_eq!(page.headers[CONTENT_TYPE], "text/html; charset=utf-8");
    let html = body(&page);
    assert!(html.contains(r#"<meta http-equiv="refresh" content="10">"#), "{html}");
    assert!(html.contains("<title>pr-101-web is waking up, usually about a minute.</title>"), "{html}");

    let head = respond(&request(Method::HEAD, "text/html"), &answer);
    assert_eq!((head.status_code, head.body.is_none()), (503, true));
    let api = respond(&request(Method::POST, "application/json"), &answer);
    assert_eq!(api.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(api.headers[RETRY_AFTER], "10");
    assert_eq!(body(&api), "pr-101-web is waking up, usually about a minute.\n");
}

#[tokio::test]
async fn many_requests_wake_once() {
    let (f, c) = (fleet(), config());
    for i in 0..20 {
        // A new process every few requests (cold starts): the tags, not memory, make it idempotent.
        let recent = RecentlyWoken::default();
        let clock = at("2026-11-20T21:03:00Z") + Duration::seconds(i * 20);
        let answer = decide(&c, &f, &get(), clock, &recent, later()).await;
        assert_eq!(answer.waking(), Some("pr-101-web"), "request {i}");
    }
    let log = f.log();
    let keep_alives = log.iter().filter(|l| l.contains("cost-saver:keep-alive=")).count();
    assert_eq!(keep_alives, 1, "{log:?}");
    assert_eq!(log.iter().filter(|l| l.starts_with("ecs:UpdateService")).count(), 1, "{log:?}");

    // A warm process answers a burst from memory: no AWS call at all.
    let recent = RecentlyWoken::default();
    decide(&c, &f, &get(), at("2026-11-20T21:10:00Z"), &recent, later()).await;
    let calls = f.calls();
    for _ in 0..50 {
        decide(&c, &f, &get(), at("2026-11-20T21:10:01Z"), &recent, later()).await;
    }
    assert_eq!(f.calls(), calls);
}

#[tokio::test]
async fn what_cannot_be_woken_gets_a_page_that_does_not_reload() {
    let (f, c, recent) = (fleet(), config(), RecentlyWoken::default());
    let clock = at("2026-11-20T21:03:00Z");
    let app = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-app/00000000000000bb";
    for (tg, host, needle) in [
        (Some(WAKING_TG), "checkout.example.com", "protected"),
        (Some(WAKING_TG), "unknown.example.com", "matches none of the sleeping services' rules"),
        (Some(app), HOST, "no sleeping service's rule forwards to this target group"),
        (None, HOST, "did not come through a load balancer"),
    ] {
        let answer = decide(&c, &f, &knock(Method::GET, "text/html", tg, host), clock, &recent, later()).await;
        let Answer::Refused { why } = &answer else { panic!("{tg:?}: {answer:?}") };
        assert!(why.contains(needle), "{tg:?}: {why}");
        let page = respond(&request(Method::GET, "text/html"), &answer);
        let html = body(&page);
        assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
        assert!(!page.headers.contains_key(RETRY_AFTER));
    }
    assert_eq!(f.service("prod", "checkout").desired, 3);
    assert!(f.log().is_empty(), "{:?}", f.log());
}

#[tokio::test]
async fn a_failed_restore_reloads_and_tries_again() {
    let (f, c, recent) = (fleet(), config(), RecentlyWoken::default());
    f.fail_write(2); // keep-alive written, the restore's UpdateService refused
    let answer = decide(&c, &f, &get(), at("2026-11-20T21:03:00Z"), &recent, later()).await;
    let Answer::Retrying { service, why } = &answer else { panic!("{answer:?}") };
    assert_eq!(service, "pr-101-web");
    assert!(why.contains("AccessDeniedException"), "{why}");
    assert!(page(&answer, "/").contains("http-equiv=\"refresh\""));
    // The next reload finishes it.
    let answer = decide(&c, &f, &get(), at("2026-11-20T21:03:10Z"), &recent, later()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
    assert_eq!(f.service("previews", "pr-101-web").desired, 2);
}

#[test]
fn the_page_escapes_what_it_shows() {
    let html = page(&Answer::Refused { why: "<script>alert(1)</script>".into() }, "/");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn restores_by_request_count_as_woken_by_request_in_the_summary_and_metrics() {
    let (f, c) = (fleet(), config());
    let request = WakeRequest {
        selector: Selector::Service { cluster: "previews".into(), service: "pr-101-web".into() },
        until: at("2026-11-20T22:10:00Z"),
        now: at("2026-11-20T21:03:00Z"),
        dry_run: false,
        origin: WakeOrigin::Request,
    };
    let report = wake(&f, &c, &request, None).await.unwrap();
    assert_eq!((report.summary.count(Reported::WokenByRequest), report.summary.count(Reported::Restored)), (1, 0));
    assert_eq!(report.summary.services[0].action, Reported::WokenByRequest);
    let emf = crate::emf::document("ecs-cost-saver-waker", &report.summary, 0);
    assert_eq!(emf["ServicesWokenByRequest"], 1.0);
    assert_eq!(emf["ServicesRestored"], 0.0);
}

#[tokio::test]
async fn under_dry_run_a_request_writes_nothing_and_the_page_says_so_without_reloading() {
    let (f, recent) = (fleet(), RecentlyWoken::default());
    let c = Config::from_lookup(|k| (k == "DRY_RUN").then(|| "true".into())).unwrap();
    let clock = at("2026-11-20T21:03:00.250Z");
    for _ in 0..3 {
        let answer = decide(&c, &f, &get(), clock, &recent, later()).await;
        assert_eq!(answer, Answer::DryRun { service: "pr-101-web".into() });
        let page = respond(&request(Method::GET, "text/html"), &answer);
        assert_eq!(page.status_code, 503);
        assert!(page.headers.get(RETRY_AFTER).is_none(), "waiting will not help");
        let html = body(&page);
        assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
        assert!(html.contains("only plans (DRY_RUN=true)"), "{html}");
        let api = respond(&request(Method::POST, "application/json"), &answer);
        assert!(api.headers.get(RETRY_AFTER).is_none());
    }
    assert_eq!(f.writes(), 0);
    assert_eq!(f.service("previews", "pr-101-web").desired, 0, "still asleep");
}

/// Issue 17, item 10: a waking group tagged with a service ARN of another account or region
/// woke the local service with the same names. It is refused, and nothing is written.
#[tokio::test]
async fn a_waking_group_naming_a_service_of_another_account_or_region_is_refused() {
    let c = config();
    for foreign in [
        "arn:aws:ecs:us-east-1:999999999999:service/previews/pr-101-web",
        "arn:aws:ecs:eu-west-1:123456789012:service/previews/pr-101-web",
        "arn:aws-cn:ecs:us-east-1:123456789012:service/previews/pr-101-web",
    ] {
        let (f, recent) = (fleet(), RecentlyWoken::default());
        f.edit_rule("rule-101", |r| {
            r.tags.insert(WAKES.into(), foreign.into());
        });
        let answer = decide(&c, &f, &get(), at("2026-11-20T21:03:00Z"), &recent, later()).await;
        let Answer::Refused { why } = &answer else { panic!("{foreign}: {answer:?}") };
        assert!(why.contains("outside this account and region"), "{why}");
        assert_eq!(f.writes(), 0, "{foreign}: nothing written");
        assert_eq!(f.service("previews", "pr-101-web").desired, 0);
    }
}

/// Issue 17, item 7: one request at Fri 21:05 to a service tagged `idle-after=168h` wrote a
/// keep-alive to the next Friday. A request's keep-alive never reaches past `MAX_WAKE_HOURS`.
#[tokio::test]
async fn a_request_s_keep_alive_never_reaches_past_max_wake_hours() {
    let (f, recent) = (fleet(), RecentlyWoken::default());
    f.edit("previews", "pr-101-web", |s| {
        s.tags.insert("cost-saver:idle-after".into(), "168h".into());
    });
    let c = Config::from_lookup(|k| (k == "MAX_WAKE_HOURS").then(|| "48".into())).unwrap();
    let answer = decide(&c, &f, &get(), at("2026-11-20T21:05:00Z"), &recent, later()).await;
    assert!(matches!(answer, Answer::Waking { .. }), "{answer:?}");
    let s = f.service("previews", "pr-101-web");
    assert_eq!(s.tags["cost-saver:keep-alive"], "2026-11-22T21:05:00Z", "48 h, not 168");
    assert_eq!(s.desired, 2);
}

/// Issue 17, item 11: the waker's Lambda timeout was shorter than one AWS operation's limit, so a
/// hung endpoint ended the invocation without an answer (the load balancer shows a 502). The
/// page goes out by the answer-by instant, saying it keeps trying, however long AWS takes.
#[tokio::test]
async fn a_hung_endpoint_still_gets_a_reloading_page_by_the_answer_by_instant() {
    let (f, c) = (fleet(), config());
    f.answer_after(StdDuration::from_secs(3600));
    let started = Instant::now();
    let answer_by = started + StdDuration::from_secs(1);
    let clock = at("2026-11-20T21:03:00Z");
    let response =
        crate::lambda::handle_waker(&c, &f, get(), clock, &RecentlyWoken::default(), answer_by).await.unwrap();
    assert!(started.elapsed() < StdDuration::from_secs(30), "did not wait for the hung call");
    assert_eq!(response.headers[RETRY_AFTER], "10");
    let html = body(&response);
    assert!(html.contains("taking longer than usual") && html.contains("AWS did not answer in time"), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
}

#[test]
fn query_strings_are_decoded_as_the_load_balancer_passes_them() {
    assert_eq!(percent_decode("pr%2D101+web"), "pr-101 web");
    assert_eq!(percent_decode("a%2Bb%zz"), "a+b%zz", "a literal plus stays, a bad escape is kept");
}

fn click_config(extra: &[(&str, &str)]) -> Config {
    let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(move |k| match k {
        "WAKE_ON" => Some("click".into()),
        _ => extra.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
    })
    .unwrap()
}

/// The button's post, as a browser sends it from the page.
fn press(token: &str, headers: &[(&'static str, &str)]) -> AlbTargetGroupRequest {
    let mut r = request(Method::POST, "text/html");
    r.headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
    for (k, v) in headers {
        r.headers.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    r.body = Some(format!("{}={}", click::FIELD, token));
    r
}

/// Issue 17, item 7: in `click` mode a request writes nothing: a browser gets the button, an API
/// call a 503; the button's post wakes the service and sends the browser back to the reloading page.
#[tokio::test]
async fn in_click_mode_nothing_is_written_until_the_button_is_pressed() {
    let (f, c) = (fleet(), click_config(&[("WAKE_TOKEN_KEY", "0123456789abcdef-stack-id")]));
    let clock = at("2026-11-20T21:03:00Z");
    let answer = decide(&c, &f, &get(), clock, &RecentlyWoken::default(), later()).await;
    let Answer::Confirm { token, .. } = &answer else { panic!("{answer:?}") };
    let page = respond(&get(), &answer);
    assert_eq!((page.status_code, page.headers.get(RETRY_AFTER)), (503, None), "no reload: waiting does not wake it");
    let html = body(&page);
    assert!(html.contains(r#"<form method="post" action="/">"#), "{html}");
    assert!(html.contains(&format!(r#"name="cost-saver-wake" value="{token}""#)), "{html}");
    assert!(html.contains("<button type=\"submit\">Wake pr-101-web (about a minute)</button>"), "{html}");
    let api = request(Method::GET, "application/json");
    let answer = decide(&c, &f, &api, clock, &RecentlyWoken::default(), later()).await;
    assert_eq!(answer, Answer::Asleep { service: "pr-101-web".into() });
    assert_eq!(
        body(&respond(&api, &answer)),
        "pr-101-web is asleep; open it in a browser and press its Wake button to wake it.\n"
    );
    assert_eq!(f.writes(), 0, "{:?}", f.log());

    // Pressed a minute later, on another (cold) waker: woken, and back to the page.
    let pressed = press(token, &[("origin", "https://pr-101.previews.example.com"), ("sec-fetch-site", "same-origin")]);
    let later_on = clock + Duration::minutes(1);
    let answer = decide(&c, &f, &pressed, later_on, &RecentlyWoken::default(), later()).await;
    assert_eq!(answer, Answer::Pressed { service: "pr-101-web".into() });
    let back = respond(&pressed, &answer);
    assert_eq!((back.status_code, back.headers["location"].to_str().unwrap()), (303, "/"));
    let web = f.service("previews", "pr-101-web");
    assert_eq!((web.desired, web.tags["cost-saver:keep-alive"].as_str()), (2, "2026-11-20T22:10:00Z"));
    // The page it lands on reloads until the app answers, and no button is shown again.
    let answer = decide(&c, &f, &get(), later_on, &RecentlyWoken::default(), later()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
}

/// Issue 17, item 7: a press the page did not make is refused with nothing written: another
/// deployment's token, another service's or host's, an expired one, or one posted from another site.
#[tokio::test]
async fn a_forged_expired_or_cross_site_press_is_refused_and_writes_nothing() {
    let key = ("WAKE_TOKEN_KEY", "0123456789abcdef-stack-id");
    let (f, c) = (fleet(), click_config(&[key]));
    let clock = at("2026-11-20T21:03:00Z");
    let arn = "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web";
    let good = click::Tokens::new(key.1.as_bytes()).issue(arn, HOST, clock);
    let other_deployment = click::Tokens::new(b"another stack's id, 36 chars long..").issue(arn, HOST, clock);
    let other_host = click::Tokens::new(key.1.as_bytes()).issue(arn, "checkout.example.com", clock);
    let cases = [
        (press(&other_deployment, &[]), clock, "not this deployment's"),
        (press(&other_host, &[]), clock, "not this deployment's"),
        (press(&good, &[]), clock + Duration::minutes(11), "expired"),
        (press(&good, &[("origin", "https://evil.example.com")]), clock, "another site"),
        (press(&good, &[("sec-fetch-site", "cross-site")]), clock, "another site"),
        (request(Method::POST, "application/json"), clock, "not the wake button's"),
    ];
    for (knock, when, needle) in cases {
        let answer = decide(&c, &f, &knock, when, &RecentlyWoken::default(), later()).await;
        let Answer::BadButton { why, .. } = &answer else { panic!("{needle}: {answer:?}") };
        assert!(why.contains(needle), "{needle}: {why}");
        let page = respond(&knock, &answer);
        assert_eq!(page.status_code, 403);
        assert!(body(&page).contains("Reload the page for a new button"), "{}", body(&page));
    }
    assert_eq!(f.writes(), 0, "{:?}", f.log());
    let answer = decide(&c, &f, &press(&good, &[]), clock, &RecentlyWoken::default(), later()).await;
    assert_eq!(answer, Answer::Pressed { service: "pr-101-web".into() }, "the page's own press works");
}

/// Issue 17, item 7: `WAKE_ON=auto` (the default) is `click` behind an internet-facing load
/// balancer and `visit` behind an internal one; `cost-saver:wake-on` on the service, its cluster
/// or its listener decides instead.
#[tokio::test]
async fn auto_clicks_on_the_internet_and_visits_inside_and_tags_decide_first() {
    let c = config();
    let internal = fleet();
    let answer = decide(&c, &internal, &get(), at("2026-11-20T21:03:00Z"), &RecentlyWoken::default(), later()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"), "internal: a visit wakes it");

    let facing = fleet();
    facing.set_internet_facing(LB);
    let answer = decide(&c, &facing, &get(), at("2026-11-20T21:03:00Z"), &RecentlyWoken::default(), later()).await;
    assert!(matches!(answer, Answer::Confirm { .. }), "internet-facing: the button: {answer:?}");
    assert_eq!(facing.writes(), 0);

    facing.tag_listener(LISTENER, "cost-saver:wake-on", "visit");
    let answer = decide(&c, &facing, &get(), at("2026-11-20T21:03:00Z"), &RecentlyWoken::default(), later()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"), "the listener says visit");

    let tagged = fleet();
    tagged.add_cluster("previews", &[("Environment", "preview"), ("cost-saver:wake-on", "click")]);
    let answer = decide(&c, &tagged, &get(), at("2026-11-20T21:03:00Z"), &RecentlyWoken::default(), later()).await;
    assert!(matches!(answer, Answer::Confirm { .. }), "the cluster says click: {answer:?}");
    tagged.edit("previews", "pr-101-web", |s| {
        s.tags.insert("cost-saver:wake-on".into(), "visit".into());
    });
    let answer = decide(&c, &tagged, &get(), at("2026-11-20T21:03:00Z"), &RecentlyWoken::default(), later()).await;
    assert_eq!(answer.waking(), Some("pr-101-web"), "the service says visit");
}
