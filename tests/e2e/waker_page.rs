//! Issue 10 (first part): the waking page in a real browser (Debian's headless Chromium). It
//! renders, it reloads itself until the application answers in its place, and the page for what
//! cannot be woken never reloads. A screenshot lands in target/waker-page.png.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ecs_cost_saver::waker::{page, Answer};

const APP: &str = "<!doctype html><html><head><title>pr-101</title></head><body><h1>APP READY</h1></body></html>";

/// Serves `/` on 127.0.0.1: the waker's `answer` for the first `waking` requests, then the app,
/// as the load balancer does once routing is restored. Counts the page loads.
fn serve(answer: Answer, waking: u32) -> (u16, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let loads = Arc::new(AtomicU32::new(0));
    let counted = loads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            while let Ok(n) = reader.read_line(&mut String::new()) {
                if n <= 2 {
                    break;
                }
            }
            let (status, body) = if line.starts_with("GET / ") {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                if n < waking {
                    ("503 Service Unavailable", page(&answer, "/"))
                } else {
                    ("200 OK", APP.to_string())
                }
            } else {
                ("404 Not Found", String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, loads)
}

/// Headless Chromium as the workplace runs it, with `extra` arguments; returns stdout.
fn chromium(port: u16, extra: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("waker-page-chromium-{port}"));
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("Debian's chromium is installed by scripts/setup.sh --browser");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_waking_page_reloads_until_the_app_answers() {
    let (port, loads) = serve(Answer::Waking { service: "pr-101-web".into() }, 2);
    // Virtual time: the page's 10-second reloads happen without the test waiting for them.
    let dom = chromium(port, &["--virtual-time-budget=60000", "--dump-dom"]);
    assert!(dom.contains("APP READY"), "the browser did not reach the app: {dom}");
    assert_eq!(loads.load(Ordering::SeqCst), 3, "two waking pages, then the app");
}

#[test]
fn the_page_for_what_cannot_be_woken_never_reloads() {
    let (port, loads) = serve(Answer::Refused { why: "protected: Environment=prod".into() }, u32::MAX);
    let dom = chromium(port, &["--virtual-time-budget=60000", "--dump-dom"]);
    assert!(dom.contains("Nothing to wake here: protected: Environment=prod."), "{dom}");
    assert_eq!(loads.load(Ordering::SeqCst), 1, "no reload loop");
}

/// `DRY_RUN=true`: nothing is woken, so the page says so and never reloads.
#[test]
fn the_dry_run_page_never_reloads() {
    let (port, loads) = serve(Answer::DryRun { service: "pr-101-web".into() }, u32::MAX);
    let dom = chromium(port, &["--virtual-time-budget=60000", "--dump-dom"]);
    assert!(dom.contains("pr-101-web is asleep, and this deployment only plans (DRY_RUN=true)."), "{dom}");
    assert_eq!(loads.load(Ordering::SeqCst), 1, "no reload loop");
}

#[test]
fn the_waking_page_renders() {
    let (port, _) = serve(Answer::Waking { service: "pr-101-web".into() }, u32::MAX);
    let shot = testkit::project_root().join("target/waker-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        port,
        &["--window-size=900,500", "--virtual-time-budget=2000", &format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(Path::new(&shot)).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{} bytes", png.len());
    let dom = chromium(port, &["--virtual-time-budget=2000", "--dump-dom"]);
    assert!(dom.contains("<h1>pr-101-web is waking up, usually about a minute.</h1>"), "{dom}");
}
