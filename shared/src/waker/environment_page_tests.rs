//! Issue 19: the waking page of an environment lists its members and how far each is, says until
//! when it stays awake, and its keep-awake buttons extend every member's keep-alive.

use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderValue, Method};

use super::progress::{Member, State};
use super::*;
use crate::run::environment_tests::{
    at, config, fleet, group, inv, visit, waking_group, FRIDAY_EVENING, HOST, MEMBERS,
};
use crate::run::run;
use crate::Mode;

const KEEP: &str = "cost-saver:keep-alive";

fn body(r: &aws_lambda_events::alb::AlbTargetGroupResponse) -> String {
    match &r.body {
        Some(Body::Text(t)) => t.clone(),
        other => panic!("{other:?}"),
    }
}

/// The keep-awake button's post, as a browser on the page sends it.
fn press(waking: &str, token: &str, hours: &str) -> AlbTargetGroupRequest {
    let mut r = knock_for(waking, HOST);
    r.http_method = Method::POST;
    r.headers.insert("origin", HeaderValue::from_str(&format!("https://{HOST}")).unwrap());
    r.headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    r.body = Some(format!("{}={}&{}={hours}", click::FIELD, token.replace('+', "%2B"), click::HOURS_FIELD));
    r
}

#[tokio::test]
async fn the_page_lists_each_member_and_how_far_it_is() {
    let c = config(&[]);
    let f = fleet();
    f.edit("previews", "pr-101-worker", |s| {
        s.tags.insert("cost-saver:wake-after".into(), "pr-101-api".into());
    });
    run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    let waking = waking_group(&f, "pr-101-web").unwrap();
    // Starting tasks are not healthy yet: the waking routing stays while they start.
    for g in ["pr-101-web", "pr-101-api"] {
        f.set_healthy(&group(g), false);
    }
    let recent = RecentlyWoken::default();
    let answer = visit(&f, &c, "2026-11-20T21:03:00Z", &recent).await;
    let Answer::Waking { progress: Some(p), .. } = &answer else { panic!("{answer:?}") };
    assert_eq!(p.environment.as_deref(), Some("pr-101"));
    assert_eq!(
        p.members,
        [
            Member { name: "pr-101-web".into(), state: State::Starting { running: 0, desired: 2 } },
            Member { name: "pr-101-api".into(), state: State::Starting { running: 0, desired: 3 } },
            Member { name: "pr-101-worker".into(), state: State::WaitingFor("pr-101-api".into()) },
        ]
    );
    assert_eq!(p.until, Some(at("2026-11-20T22:10:00Z")));
    assert!(p.token.is_some(), "keep-awake buttons");

    let page = body(&respond(&knock_for(&waking, HOST), &answer));
    for needle in [
        "<title>pr-101 is waking up, usually about a minute.</title>",
        r#"<span class="name">pr-101-worker</span><span class="state waiting">waits for pr-101-api</span>"#,
        r#"<span class="state starting">starting, 0 of 3 tasks</span>"#,
        r#"<time id="csw-until" datetime="2026-11-20T22:10:00Z">Fri 22:10 UTC</time>"#,
        r#"name="hours" value="1">Keep awake +1 h</button>"#,
        r#"name="hours" value="4">Keep awake +4 h</button>"#,
        r#"id="csw-tonight" name="hours" value="3" data-max="72">Until tonight</button>"#,
        r#"<meta http-equiv="refresh" content="10">"#,
    ] {
        assert!(page.contains(needle), "{needle}\n{page}");
    }

    // Later reloads read the fleet again (past the warm cache) and show what runs.
    let later = RecentlyWoken::default();
    let answer = visit(&f, &c, "2026-11-20T21:05:00Z", &later).await;
    let Answer::Waking { progress: Some(p), .. } = &answer else { panic!("{answer:?}") };
    assert_eq!(p.members[0].state, State::Running { tasks: 2 });
    assert_eq!(p.members[2].state, State::Starting { running: 0, desired: 1 }, "restored once the API runs");
    assert!(MEMBERS.iter().all(|m| f.service("previews", m).desired > 0));
}

#[tokio::test]
async fn a_keep_awake_button_extends_every_member_and_a_forged_one_writes_nothing() {
    let c = config(&[]);
    let f = fleet();
    run(&f, &c, inv(Mode::ScaleDown, FRIDAY_EVENING), None).await.unwrap();
    let waking = waking_group(&f, "pr-101-web").unwrap();
    let recent = RecentlyWoken::default();
    let answer = visit(&f, &c, "2026-11-20T21:03:00Z", &recent).await;
    let Answer::Waking { progress: Some(p), .. } = answer else { panic!() };
    let token = p.token.unwrap();
    let keeps = |f: &crate::memory::MemoryFleet| -> Vec<String> {
        MEMBERS.iter().map(|m| f.service("previews", m).tags[KEEP].clone()).collect()
    };

    // Within the warm cache's 30 seconds too: a keep-awake is never answered from memory.
    let clock = at("2026-11-20T21:03:20Z");
    let pressed = decide(&c, &f, &press(&waking, &token, "4"), clock, &recent, test_deadline()).await;
    assert_eq!(pressed, Answer::Pressed { service: "pr-101-web".into() });
    assert_eq!(keeps(&f), ["2026-11-21T01:03:20Z"; 3], "four hours from the press, for every member");

    let writes = f.writes();
    for (token, hours, why) in [("1.forged", "4", "malformed"), (token.as_str(), "1", "")] {
        let answer = decide(&c, &f, &press(&waking, token, hours), clock, &recent, test_deadline()).await;
        if why.is_empty() {
            assert_eq!(answer, Answer::Pressed { service: "pr-101-web".into() }, "a shorter one never shortens");
        } else {
            assert!(matches!(&answer, Answer::BadButton { why: w, .. } if w.contains(why)), "{answer:?}");
        }
    }
    assert_eq!(f.writes(), writes, "nothing written by a forged or a shorter press");
    let absurd = decide(&c, &f, &press(&waking, &token, "99999"), clock, &recent, test_deadline()).await;
    assert_eq!(absurd, Answer::Pressed { service: "pr-101-web".into() });
    assert_eq!(keeps(&f), ["2026-11-23T21:03:20Z"; 3], "never past MAX_WAKE_HOURS (72)");
}
