//! Issue 19: the overlap property over three-member environments. Two of the runs (and the waker)
//! overlap, every call delayed a random number of scheduler turns; nothing saved is ever lost and
//! no member is left asleep behind a page that says its environment is awake.

use super::environment_tests::{at, config, fleet, inv, visit, waking_group, API_BOUNDS, FRIDAY_EVENING, MEMBERS};
use super::*;
use crate::fleet::Selector;
use crate::memory::MemoryFleet;
use crate::wake::{wake, WakeOrigin, WakeRequest};
use crate::waker::{Answer, RecentlyWoken};

const EVENING_LATER: &str = "2026-11-20T20:30:00Z";
const MORNING: &str = "2026-11-23T08:00:00Z";
const SAVED: &str = "cost-saver:saved";

#[derive(Debug, Clone, Copy)]
enum Actor {
    ScaleDown,
    ReconcileEvening,
    ScaleUp,
    ReconcileMorning,
    /// A browser's request to the web host, through the waker.
    Visit,
    /// An engineer's `wake` naming the worker (no load balancer).
    WakeWorker,
}

const ACTORS: [Actor; 6] = [
    Actor::ScaleDown,
    Actor::ReconcileEvening,
    Actor::ScaleUp,
    Actor::ReconcileMorning,
    Actor::Visit,
    Actor::WakeWorker,
];

/// Runs `actor`; the waker's answer when it was the waker.
async fn act(f: &MemoryFleet, c: &Config, actor: Actor) -> Option<Answer> {
    let (mode, now) = match actor {
        Actor::ScaleDown => (Mode::ScaleDown, FRIDAY_EVENING),
        Actor::ReconcileEvening => (Mode::Reconcile, EVENING_LATER),
        Actor::ScaleUp => (Mode::ScaleUp, MORNING),
        Actor::ReconcileMorning => (Mode::Reconcile, MORNING),
        Actor::Visit => return Some(visit(f, c, EVENING_LATER, &RecentlyWoken::default()).await),
        Actor::WakeWorker => {
            let request = WakeRequest {
                selector: Selector::Service { cluster: "previews".into(), service: "pr-101-worker".into() },
                until: at("2026-11-20T22:00:00Z"),
                now: at(EVENING_LATER),
                dry_run: false,
                origin: WakeOrigin::Engineer,
            };
            wake(f, c, &request, None).await.unwrap();
            return None;
        }
    };
    // Two runs may race on the load balancer's waking group (one deletes it as the other adds to
    // it): such a service is reported failed and the scheduler's retry finishes it.
    run(f, c, inv(mode, now), None).await.unwrap();
    None
}

/// 10,000 seeded interleavings of two of the actors over `pr-101` (web and api behind one load
/// balancer, a worker without one), from an awake or an asleep environment.
#[tokio::test]
async fn ten_thousand_interleavings_over_environments_lose_nothing_and_leave_no_member_asleep() {
    let c = config(&[("WRITE_CONCURRENCY", "2")]);
    let mut problems = Vec::new();
    let mut paged = 0;
    for seed in 0..10_000u64 {
        let f = fleet();
        let asleep_first = seed % 3 == 0;
        if asleep_first {
            act(&f, &c, Actor::ScaleDown).await;
        }
        let a = ACTORS[(seed / 3 % 6) as usize];
        let b = ACTORS[(seed / 18 % 6) as usize];
        f.interleave_randomly(seed);
        let (answer_a, answer_b) = tokio::join!(act(&f, &c, a), act(&f, &c, b));
        let case = format!("seed {seed} ({a:?} + {b:?}, asleep first: {asleep_first})");

        for name in MEMBERS {
            let s = f.service("previews", name);
            let looks_asleep = s.desired == 0 || s.scaling.is_some_and(|b| b.max == 0);
            if looks_asleep && !s.tags.contains_key(SAVED) {
                problems.push(format!("{case}: {name} asleep without saved"));
            }
            if s.tags.get(SAVED).is_some_and(|v| crate::saved::SavedState::parse(v).unwrap().looks_asleep()) {
                problems.push(format!("{case}: {name} saved sleeping values"));
            }
            // A load-balanced member its rules send to the app (no page) must be running.
            let lb = !s.target_groups.is_empty();
            if lb && waking_group(&f, name).is_none() && s.desired == 0 {
                problems.push(format!("{case}: {name} asleep behind its own routing (503)"));
            }
        }
        // The page said "waking": by the next check (a reload, or reconcile), every member runs.
        let page_says_waking = [answer_a, answer_b].into_iter().flatten().any(|a| matches!(a, Answer::Waking { .. }));
        if page_says_waking {
            paged += 1;
            run(&f, &c, inv(Mode::Reconcile, EVENING_LATER), None).await.unwrap();
            let asleep: Vec<&str> = MEMBERS.into_iter().filter(|m| f.service("previews", m).desired == 0).collect();
            if !asleep.is_empty() {
                problems.push(format!("{case}: the page said waking, still asleep: {asleep:?}"));
            }
        }
        // One restore brings back exactly what there was.
        run(&f, &c, inv(Mode::ScaleUp, "2026-11-23T10:00:00Z"), None).await.unwrap();
        let (web, api, worker) =
            (f.service("previews", MEMBERS[0]), f.service("previews", MEMBERS[1]), f.service("previews", MEMBERS[2]));
        if (web.desired, api.desired, api.scaling, worker.desired) != (2, 3, Some(API_BOUNDS), 1)
            || MEMBERS.iter().any(|m| f.service("previews", m).tags.contains_key(SAVED))
        {
            problems.push(format!(
                "{case}: after the restore web {} api {} {:?} worker {}",
                web.desired, api.desired, api.scaling, worker.desired
            ));
        }
        if problems.len() > 5 {
            break;
        }
    }
    assert!(problems.is_empty(), "{} interleavings went wrong:\n{}", problems.len(), problems.join("\n"));
    assert!(paged > 1000, "the waker answered in {paged} interleavings");
}
