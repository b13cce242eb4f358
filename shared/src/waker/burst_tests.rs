//! Issue 17, item 8: 200 simultaneous requests to one sleeping autoscaled service from cold
//! waker instances made 2,566-3,122 AWS calls, 76-103 keep-alive writes and 137-156
//! `UpdateService`. These tests drive such a burst through a model of Lambda's concurrency:
//! at most `concurrency` execution environments, each cold at first and handling one request at
//! a time; a request that finds every one busy is throttled (the load balancer answers it with
//! an error of its own, no AWS call) and its browser knocks again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::plan::{Invocation, Mode};
use crate::run::run;

const WAKER: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-cost-saver-waker";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/1";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/previews/1/443";
const WEB_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-101-web/1";
const HOST: &str = "pr-101.previews.example.com";
const BOUNDS: Bounds = Bounds { min: 2, max: 6, suspended: Suspension::NONE };

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|k| (k == "WAKER_FUNCTION_ARN").then(|| WAKER.to_string())).unwrap()
}

/// An autoscaled preview put to sleep by the Friday evening run, its rule swapped to the waker.
async fn sleeping_preview() -> (MemoryFleet, String) {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_service(MemoryService::new("previews", "pr-101-web", 3).autoscaled(BOUNDS).behind(WEB_TG));
    f.add_target_group(WEB_TG, true);
    f.add_rule("rule-101", LB, LISTENER, Some(10), HOST, WEB_TG);
    let inv = Invocation { mode: Mode::ScaleDown, now: at("2026-11-20T21:00:00Z"), dry_run: false, force: false };
    let down = run(&f, &config(), inv, None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 1, "{:?}", down.services);
    let waking = f.rules().into_iter().find(|r| r.arn == "rule-101").unwrap().forwards_to[0].clone();
    assert!(waking.contains(":targetgroup/csw-"), "{waking}");
    (f, waking)
}

/// The writes since the fleet was put to sleep, by operation.
fn writes_by_operation(log: &[String], from: usize) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for line in &log[from..] {
        *by.entry(line.split(' ').next().unwrap_or_default().to_string()).or_insert(0) += 1;
    }
    by
}

struct Burst {
    writes: BTreeMap<String, usize>,
    throttled: u32,
    answered: u32,
}

/// `clients` browsers knock at once on a waker with `concurrency` execution environments; each
/// knocks again 20 ms after being throttled, until it gets the waker's page. Every AWS call
/// takes 2 ms, so the cold instances' reads and writes overlap as they would on the wire.
async fn burst(f: Arc<MemoryFleet>, waking: &str, concurrency: usize, clients: usize) -> Burst {
    let from = f.log().len();
    f.answer_after(StdDuration::from_millis(2));
    let instances: Arc<Vec<(tokio::sync::Mutex<()>, RecentlyWoken)>> =
        Arc::new((0..concurrency).map(|_| (tokio::sync::Mutex::new(()), RecentlyWoken::default())).collect());
    let throttled = Arc::new(AtomicU32::new(0));
    let c = Arc::new(config());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (f, c, instances, throttled) = (f.clone(), c.clone(), instances.clone(), throttled.clone());
        let knock = knock_for(waking, HOST);
        tasks.spawn(async move {
            loop {
                let free = instances.iter().find_map(|(busy, recent)| busy.try_lock().ok().map(|g| (g, recent)));
                let Some((_busy, recent)) = free else {
                    throttled.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(StdDuration::from_millis(20)).await;
                    continue;
                };
                let clock = at("2026-11-20T23:30:00Z");
                return decide(&c, &*f, &knock, clock, recent, test_deadline()).await;
            }
        });
    }
    let mut answered = 0;
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.expect("a client task");
        assert_eq!(answer.waking(), Some("pr-101-web"));
        answered += 1;
    }
    Burst { writes: writes_by_operation(&f.log(), from), throttled: throttled.load(Ordering::Relaxed), answered }
}

/// What one request's restore writes: the keep-alive, the count, the scalable target, the saved
/// state's removal, the rule put back.
async fn one_restore() -> BTreeMap<String, usize> {
    let (f, waking) = sleeping_preview().await;
    let from = f.log().len();
    let answer = decide(
        &config(),
        &f,
        &knock_for(&waking, HOST),
        at("2026-11-20T23:30:00Z"),
        &RecentlyWoken::default(),
        test_deadline(),
    )
    .await;
    assert_eq!(answer.waking(), Some("pr-101-web"));
    writes_by_operation(&f.log(), from)
}

fn assert_woken_exactly(f: &MemoryFleet) {
    let s = f.service("previews", "pr-101-web");
    assert_eq!((s.desired, s.scaling), (3, Some(BOUNDS)), "restored exactly");
    assert!(!s.tags.contains_key("cost-saver:saved"));
    let rule = f.rules().into_iter().find(|r| r.arn == "rule-101").unwrap();
    assert_eq!(rule.forwards_to, [WEB_TG], "its rule forwards to the app again");
}

/// The template's waker concurrency (one environment): a burst of 200 writes what one request
/// writes, however it lands.
#[tokio::test]
async fn a_burst_of_two_hundred_requests_writes_one_restore() {
    let single = one_restore().await;
    assert_eq!(
        single.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "application-autoscaling:RegisterScalableTarget",
            "ecs:TagResource",
            "ecs:UntagResource",
            "ecs:UpdateService",
            "elasticloadbalancing:ModifyRule"
        ],
        "{single:?}"
    );
    let (f, waking) = sleeping_preview().await;
    let f = Arc::new(f);
    let burst = burst(f.clone(), &waking, 1, 200).await;
    assert_eq!(burst.answered, 200);
    assert!(burst.throttled > 0, "the burst was more than one environment could take at once");
    assert_eq!(burst.writes, single, "one restore's writes, no more");
    assert_woken_exactly(&f);
}

/// A deployment that raises `WakerConcurrency` to 4: the environments that read the service
/// before any of them wrote restore it each (the same values: no conditional write exists in
/// these APIs to let only the first through); every later request answers from reads.
#[tokio::test]
async fn with_four_environments_a_burst_restores_at_most_four_times_and_exactly() {
    let single = one_restore().await;
    let (f, waking) = sleeping_preview().await;
    let f = Arc::new(f);
    let burst = burst(f.clone(), &waking, 4, 200).await;
    assert_eq!(burst.answered, 200);
    assert_eq!(burst.writes.keys().collect::<Vec<_>>(), single.keys().collect::<Vec<_>>());
    for (operation, n) in &burst.writes {
        assert!(*n <= 4 * single[operation], "{operation}: {n} ({:?})", burst.writes);
    }
    assert_woken_exactly(&f);
}
