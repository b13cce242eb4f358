//! Issue 19: an environment's waking page in a real browser (Debian's headless Chromium): its
//! members and how far each is, until when it stays awake in the viewer's own time zone (the
//! browser's, here Europe/Berlin), how long this tab has waited, and the keep-awake buttons, at
//! phone and desktop widths (target/waker-environment-{phone,desktop}.png).

use chrono::{DateTime, Utc};
use ecs_cost_saver::waker::progress::{Member, Progress, State};
use ecs_cost_saver::waker::Answer;

use crate::waker_page::{chromium_with, serve};

fn waking() -> Answer {
    let member = |name: &str, state: State| Member { name: name.into(), state };
    let progress = Progress {
        environment: Some("pr-101".into()),
        members: vec![
            member("pr-101-web", State::Running { tasks: 2 }),
            member("pr-101-api", State::Starting { running: 1, desired: 3 }),
            member("pr-101-worker", State::WaitingFor("pr-101-api".into())),
            member("pr-101-a-member-with-a-very-long-name-for-narrow-screens", State::Asleep),
        ],
        until: Some(DateTime::parse_from_rfc3339("2026-11-20T22:10:00Z").unwrap().with_timezone(&Utc)),
        token: Some("1763676000.0123456789abcdef".into()),
        max_hours: 72,
        tonight_hours: 3,
    };
    Answer::Waking { service: "pr-101-web".into(), progress: Some(progress) }
}

/// Headless Chromium in the viewer's zone `tz`, with `extra` arguments; returns stdout.
fn chromium(port: u16, tz: &str, extra: &[&str]) -> String {
    chromium_with(port, "/", &[("TZ", tz)], extra)
}

#[test]
fn the_environment_page_shows_members_times_in_the_viewers_zone_and_keep_awake_buttons() {
    let (port, _) = serve(waking(), u32::MAX);
    let dom = chromium(port, "Europe/Berlin", &["--virtual-time-budget=2000", "--dump-dom"]);
    for needle in [
        "<h1>pr-101 is waking up, usually about a minute.</h1>",
        r#"<span class="name">pr-101-api</span><span class="state starting">starting, 1 of 3 tasks</span>"#,
        r#"<span class="state waiting">waits for pr-101-api</span>"#,
        r#"<span class="state running">running (2 tasks)</span>"#,
        "Keep awake +1 h</button>",
        "Keep awake +4 h</button>",
        "Until tonight</button>",
        r#"Waiting for <span id="csw-since">0 s</span>."#,
    ] {
        assert!(dom.contains(needle), "{needle}\n{dom}");
    }
    // 22:10 UTC is 23:10 in Berlin: the script rewrote the server's UTC time in the viewer's zone.
    let until = dom.split(r#"<time id="csw-until" datetime="2026-11-20T22:10:00Z">"#).nth(1).unwrap();
    let shown = until.split("</time>").next().unwrap();
    assert!((shown.contains("23:10") || shown.contains("11:10 PM")) && !shown.contains("UTC"), "shown as {shown:?}");
    // "Until tonight" counts to the viewer's midnight, within MAX_WAKE_HOURS.
    let tonight = dom.split(r#"id="csw-tonight" name="hours" value=""#).nth(1).unwrap();
    let hours: u32 = tonight.split('"').next().unwrap().parse().unwrap();
    assert!((1..=24).contains(&hours), "{hours}");
}

#[test]
fn the_environment_page_renders_at_phone_and_desktop_widths() {
    let (port, _) = serve(waking(), u32::MAX);
    for (name, size) in [("phone", "390,844"), ("desktop", "1280,800")] {
        let shot = testkit::project_root().join(format!("target/waker-environment-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(
            port,
            "Europe/Berlin",
            &[
                &format!("--window-size={size}"),
                "--virtual-time-budget=2000",
                &format!("--screenshot={}", shot.display()),
            ],
        );
        let png = std::fs::read(&shot).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}: {} bytes", png.len());
    }
}
