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
pub(crate) fn serve(answer: Answer, waking: u32) -> (u16, Arc<AtomicU32>) {
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
    chromium_at(port, "/", extra)
}

fn chromium_at(port: u16, path: &str, extra: &[&str]) -> String {
    chromium_with(port, path, &[], extra)
}

/// Headless Chromium with these environment variables (`TZ`: the viewer's time zone).
pub(crate) fn chromium_with(port: u16, path: &str, vars: &[(&str, &str)], extra: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("waker-page-chromium-{port}"));
    let out = Command::new("/usr/bin/chromium")
        .envs(vars.iter().copied())
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
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("Debian's chromium is installed by scripts/setup.sh --browser");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_waking_page_reloads_until_the_app_answers() {
    let (port, loads) = serve(Answer::Waking { service: "pr-101-web".into(), progress: None }, 2);
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
    let (port, _) = serve(Answer::Waking { service: "pr-101-web".into(), progress: None }, u32::MAX);
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

const KEY: &[u8] = b"6f0c5d2e-8a4b-4c1e-9f3a-2b7d1e0c9a58";
const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web";

/// What the button server saw: the press's headers as the browser sent them, and its verdict.
#[derive(Default)]
struct Presses {
    seen: Vec<(Headers, String)>,
}

/// Header names (lower case) and values, in the order sent.
type Headers = Vec<(String, String)>;

/// One HTTP request read off `stream`: request line, headers, body.
fn read_request(stream: &std::net::TcpStream) -> Option<(String, Headers, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? <= 2 {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    std::io::Read::read_exact(&mut reader, &mut body).ok()?;
    Some((line, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// The click-to-wake flow on 127.0.0.1, with the waker's own page, token and press check: `/`
/// shows the button page until a press the waker accepts, then the app; `/harness` frames `/` and
/// presses the button once, as a person would, then shows what the frame ended on.
fn serve_button() -> (u16, Arc<std::sync::Mutex<Presses>>) {
    use aws_lambda_events::alb::AlbTargetGroupRequest;
    use aws_lambda_events::http::{HeaderName, HeaderValue, Method};
    use ecs_cost_saver::waker::click::{knock_of, Knock, Tokens};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let presses = Arc::new(std::sync::Mutex::new(Presses::default()));
    let seen = presses.clone();
    std::thread::spawn(move || {
        let tokens = Tokens::new(KEY);
        let mut awake = false;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let Some((line, headers, body)) = read_request(&stream) else { continue };
            let host = headers.iter().find(|(k, _)| k == "host").map(|(_, v)| v.clone()).unwrap_or_default();
            let now = chrono::Utc::now();
            let (status, extra, page_body) = if line.starts_with("GET /harness ") {
                ("200 OK", String::new(), HARNESS.to_string())
            } else if line.starts_with("GET / ") && awake {
                ("200 OK", String::new(), APP.to_string())
            } else if line.starts_with("GET / ") {
                let token = tokens.issue(SERVICE_ARN, &host, now);
                (
                    "503 Service Unavailable",
                    String::new(),
                    page(&Answer::Confirm { service: "pr-101-web".into(), token }, "/"),
                )
            } else if line.starts_with("POST / ") {
                let mut request = AlbTargetGroupRequest::default();
                request.http_method = Method::POST;
                for (k, v) in &headers {
                    if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                        request.headers.insert(k, v);
                    }
                }
                request.body = Some(body);
                let verdict = match knock_of(&request) {
                    Knock::Pressed { token, .. } => match tokens.check(&token, SERVICE_ARN, &host, now) {
                        Ok(()) => "pressed".to_string(),
                        Err(why) => why.to_string(),
                    },
                    other => format!("{other:?}"),
                };
                awake |= verdict == "pressed";
                seen.lock().unwrap().seen.push((headers.clone(), verdict.clone()));
                if verdict == "pressed" {
                    ("303 See Other", "location: /\r\n".to_string(), String::new())
                } else {
                    ("403 Forbidden", String::new(), verdict)
                }
            } else {
                ("404 Not Found", String::new(), String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{page_body}",
                page_body.len()
            );
        }
    });
    (port, presses)
}

/// Frames `/` and, on its first load, presses the button as a person would.
const HARNESS: &str = r#"<!doctype html><html><body><div id="out">waiting</div><iframe id="f" src="/"></iframe>
<script>
let loads = 0;
document.getElementById('f').onload = () => {
  loads++;
  const d = document.getElementById('f').contentDocument;
  const button = d.querySelector('button');
  if (loads === 1 && button) { button.click(); return; }
  document.getElementById('out').textContent = 'LOAD ' + loads + ': ' + d.body.innerText.trim();
};
</script></body></html>"#;

/// Issue 17, item 7: the button page in a real browser: pressing it posts the form the waker
/// reads, from the same site (the browser's own `Origin` and `Sec-Fetch-Site`), with a token
/// the waker accepts; the answer's redirect lands on the app.
#[test]
fn pressing_the_wake_button_in_a_browser_posts_a_press_the_waker_accepts() {
    let (port, presses) = serve_button();
    let dom = chromium_at(port, "/harness", &["--virtual-time-budget=10000", "--dump-dom"]);
    assert!(dom.contains("LOAD 2: APP READY"), "the press did not reach the app: {dom}");
    let presses = presses.lock().unwrap();
    assert_eq!(presses.seen.len(), 1, "one press");
    let (headers, verdict) = &presses.seen[0];
    assert_eq!(verdict, "pressed");
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(header("sec-fetch-site"), Some("same-origin"));
    assert_eq!(header("origin"), Some(format!("http://127.0.0.1:{port}").as_str()));
    assert_eq!(header("content-type"), Some("application/x-www-form-urlencoded"));
}

/// The button page at phone and desktop widths: target/waker-button-{phone,desktop}.png.
#[test]
fn the_button_page_renders_at_phone_and_desktop_widths() {
    let (port, _) = serve_button();
    for (name, size) in [("phone", "390,844"), ("desktop", "1280,720")] {
        let shot = testkit::project_root().join(format!("target/waker-button-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(
            port,
            &[
                &format!("--window-size={size}"),
                "--virtual-time-budget=2000",
                &format!("--screenshot={}", shot.display()),
            ],
        );
        let png = std::fs::read(&shot).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}: {} bytes", png.len());
    }
    let dom = chromium(port, &["--virtual-time-budget=2000", "--dump-dom"]);
    assert!(dom.contains("<button type=\"submit\">Wake pr-101-web (about a minute)</button>"), "{dom}");
    assert!(!dom.contains("http-equiv=\"refresh\""), "the button page does not reload: {dom}");
}
