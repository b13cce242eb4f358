//! The built functions, served by `cargo lambda watch` and invoked with `cargo lambda invoke`
//! and the files in `events/`, against moto server.

use serde_json::Value;
use testkit::{event_file, DemoFleet, LambdaWatch, DEMO_CLUSTERS};

const ASLEEP_AFTER_FRIDAY: [&str; 4] =
    ["previews/pr-101-web", "previews/pr-101-api", "dev-tools/grafana", "dev-tools/search"];

fn count(summary: &Value, action: &str) -> u64 {
    summary["counts"][action].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_sleep_and_wake_the_demo_fleet_through_cargo_lambda() {
    let DemoFleet { moto, seeder, before, .. } = DemoFleet::start().await;
    let watch = LambdaWatch::start(&moto.env());

    let plan = watch.invoke_file("scale-down", &event_file("what-if-friday-20h.json")).unwrap();
    assert_eq!(plan["mode"], "scale-down");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["now"], "2026-11-20T20:00:00Z");
    assert_eq!(count(&plan, "would_scale_down"), 4, "{plan:#}");
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before, "a dry run changes nothing");

    let down = watch.invoke_file("scale-down", &event_file("friday-evening.json")).unwrap();
    assert_eq!(count(&down, "scaled_down"), 4, "{down:#}");
    assert_eq!(count(&down, "failed"), 0);
    assert_eq!(down["aws_calls"]["ecs:UpdateService"], 4, "{down:#}");
    assert_eq!(down["aws_calls"]["ecs:TagResource"], 4);
    assert_eq!(down["aws_calls"]["application-autoscaling:RegisterScalableTarget"], 2);
    let asleep = seeder.snapshot(&DEMO_CLUSTERS).await;
    for (key, state) in &asleep {
        if ASLEEP_AFTER_FRIDAY.contains(&key.as_str()) {
            assert_eq!(state.desired, 0, "{key}");
            assert!(state.tags["cost-saver:saved"].ends_with("at=2026-11-20T20:00:00Z"), "{key}: {:?}", state.tags);
        } else {
            assert_eq!(state, &before[key], "{key} must be untouched");
        }
    }
    assert_eq!(
        asleep["dev-tools/search"].tags["cost-saver:saved"],
        "desired=4 min=2 max=8 suspended=scheduled at=2026-11-20T20:00:00Z"
    );
    assert_eq!(asleep["dev-tools/search"].target, Some((0, 0, [true, true, true])));

    // The classic envelope runs on the real clock: whatever the time, nothing may fail.
    let envelope = watch.invoke_file("scale-down", &event_file("scheduled-event.json")).unwrap();
    assert_eq!(envelope["mode"], "scale-down");
    assert_eq!(count(&envelope, "failed"), 0);

    let up = watch.invoke_file("scale-up", &event_file("monday-morning.json")).unwrap();
    assert_eq!(up["mode"], "scale-up");
    assert_eq!(count(&up, "restored"), 4, "{up:#}");
    assert_eq!(up["aws_calls"]["ecs:UntagResource"], 4, "calls are per invocation: {up:#}");
    assert_eq!(up["aws_calls"]["ecs:UpdateService"], 4);
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before, "everything back exactly as it was");

    let dry = watch.invoke_file("scale-up", &event_file("dry-run.json")).unwrap();
    assert_eq!(dry["dry_run"], true);
    let idle = watch.invoke_file("scale-up", &event_file("scheduler-input.json")).unwrap();
    assert_eq!(count(&idle, "restored"), 0, "nothing left to restore");

    let forced = watch.invoke_file("scale-down", &event_file("force-dry-run.json")).unwrap();
    // On the real clock the fresh demo services are in their grace period; force still ignores
    // every schedule, and keep-alive and protection still hold.
    assert_eq!(forced["force"], true);
    for s in forced["services"].as_array().unwrap() {
        let reason = s["reason"].as_str().unwrap();
        assert!(!reason.contains("says awake"), "force must ignore schedules: {s}");
        if s["service"] == "pr-102-web" {
            assert!(reason.contains("keep-alive"), "{s}");
        }
    }

    let refused = watch.invoke_file("scale-up", &event_file("force.json")).unwrap_err();
    assert!(refused.contains("only accepted by scale-down"), "{refused}");
    let typo = watch.invoke_ascii("scale-down", r#"{"dryrun": true}"#).unwrap_err();
    assert!(typo.contains("unknown field `dryrun`"), "{typo}");
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before);
}

fn writes(summary: &Value) -> u64 {
    ["ecs:TagResource", "ecs:UntagResource", "ecs:UpdateService", "application-autoscaling:RegisterScalableTarget"]
        .iter()
        .map(|op| summary["aws_calls"][op].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_and_wake_through_cargo_lambda() {
    let DemoFleet { moto, seeder, .. } = DemoFleet::start().await;
    let watch = LambdaWatch::start(&moto.env());

    let evening = watch.invoke_file("reconcile", &event_file("friday-evening.json")).unwrap();
    assert_eq!(evening["mode"], "reconcile");
    assert_eq!(count(&evening, "scaled_down"), 4, "{evening:#}");
    let quiet = watch.invoke_file("reconcile", &event_file("friday-night.json")).unwrap();
    assert_eq!(writes(&quiet), 0, "nothing to do an hour later: {quiet:#}");

    // Wake the pr-101 preview for 4 hours: measured from the real clock, whatever the what-if
    // times of the other events.
    let before = chrono::Utc::now();
    let woken = watch.invoke_file("wake", &event_file("wake-by-tag.json")).unwrap();
    assert_eq!(woken["mode"], "wake");
    let until = chrono::DateTime::parse_from_rfc3339(woken["until"].as_str().unwrap()).unwrap();
    let minutes = (until.with_timezone(&chrono::Utc) - before).num_minutes();
    assert!((239..=241).contains(&minutes), "until {until} is 4 hours from the real clock");
    assert_eq!(count(&woken, "restored"), 2, "{woken:#}");
    let state = seeder.snapshot(&DEMO_CLUSTERS).await;
    assert_eq!((state["previews/pr-101-web"].desired, state["previews/pr-101-api"].desired), (2, 3));
    assert_eq!(state["previews/pr-101-api"].target, Some((2, 6, [false, false, false])));
    assert_eq!(state["previews/pr-101-web"].tags["cost-saver:keep-alive"], woken["until"].as_str().unwrap());
    assert_eq!(state["dev-tools/grafana"].desired, 0, "not matched, still asleep");

    // reconcile at 23:00 keeps them awake.
    let night = watch.invoke_file("reconcile", &event_file("friday-night.json")).unwrap();
    assert_eq!(writes(&night), 0, "{night:#}");

    let dry = watch.invoke_file("wake", &event_file("wake-dry-run.json")).unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(writes(&dry), 0);

    let refused = watch.invoke_ascii("wake", r#"{"cluster": "payments-prod", "hours": 1}"#).unwrap_err();
    assert!(refused.contains("protected"), "{refused}");
    let unknown = watch.invoke_ascii("wake", r#"{"cluster": "previews", "service": "nope", "hours": 1}"#).unwrap_err();
    assert!(unknown.contains("not found: service nope in cluster previews"), "{unknown}");
}

/// The `Input` every `ScheduleV2` event of `function`'s resource in template.yaml sends: what the
/// deployed schedules hand the function, read from the template so a change there is tested here.
fn scheduled_inputs(resource: &str) -> Vec<String> {
    let path = testkit::project_root().join("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let events = template["Resources"][resource]["Properties"]["Events"].as_mapping().expect(resource);
    let inputs: Vec<String> = events
        .values()
        .filter(|e| e["Type"] == "ScheduleV2")
        .map(|e| e["Properties"]["Input"].as_str().expect("a schedule's Input is a JSON string").to_string())
        .collect();
    assert!(!inputs.is_empty(), "{resource} has no schedule");
    inputs
}

/// What one invocation sends: a fixed text, or `now` as the real clock with a fraction of a
/// second, taken when it is sent.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Text(&'a str),
    FractionalNow,
}

struct Step<'a> {
    function: &'a str,
    watch: &'a LambdaWatch,
    payload: Payload<'a>,
}

impl Step<'_> {
    fn invoke(&self) -> Result<Value, String> {
        let text = match self.payload {
            Payload::Text(text) => text.to_string(),
            Payload::FractionalNow => {
                let now = chrono::Utc::now();
                let nanos = now.timestamp_subsec_nanos().max(1);
                format!(r#"{{"now": "{}.{nanos:09}Z"}}"#, now.format("%Y-%m-%dT%H:%M:%S"))
            }
        };
        self.watch.invoke_ascii(self.function, &text)
    }
}

/// The functions as deployed: what template.yaml's schedules send, at the real clock (with its
/// nanoseconds), also as a classic Scheduled Event, with a fractional `now` and `force`. The
/// settings make the outcome independent of the hour: `never` is asleep at any time (and
/// `GRACE_PERIOD_MINUTES=0` lets the fresh demo services sleep), `always` awake at any time.
/// Every sleep must really happen, and every wake restore the fleet exactly.
#[tokio::test(flavor = "multi_thread")]
async fn scheduled_functions_sleep_and_wake_at_the_real_clock_with_what_the_template_sends() {
    let DemoFleet { moto, seeder, before, .. } = DemoFleet::start().await;
    let with = |schedule: &str| {
        let mut env = moto.env();
        env.push(("DEFAULT_SCHEDULE".into(), schedule.into()));
        env.push(("GRACE_PERIOD_MINUTES".into(), "0".into()));
        env
    };
    let night = LambdaWatch::start(&with("never"));
    let day = LambdaWatch::start(&with("always"));

    let [down] = &scheduled_inputs("ScaleDownFunction")[..] else { panic!("one scale-down schedule") };
    let [up] = &scheduled_inputs("ScaleUpFunction")[..] else { panic!("one scale-up schedule") };
    let [tick] = &scheduled_inputs("ReconcileFunction")[..] else { panic!("one reconcile schedule") };
    let envelope = std::fs::read_to_string(event_file("scheduled-event.json")).unwrap();
    let (fraction, forced) = (Payload::FractionalNow, Payload::Text(r#"{"force": true}"#));
    let (down, up, tick, envelope) =
        (Payload::Text(down), Payload::Text(up), Payload::Text(tick), Payload::Text(&envelope));
    let step = |function, watch, payload| Step { function, watch, payload };
    // Force ignores schedules, nightly-etl's own all-day one included.
    let all_day: Vec<&str> = ASLEEP_AFTER_FRIDAY.into_iter().chain(["dev-tools/nightly-etl"]).collect();
    let cycles = [
        (
            "the template's inputs",
            step("scale-down", &night, down),
            step("scale-up", &day, up),
            &ASLEEP_AFTER_FRIDAY[..],
        ),
        (
            "a classic envelope, then a tick",
            step("scale-down", &night, envelope),
            step("reconcile", &day, tick),
            &ASLEEP_AFTER_FRIDAY,
        ),
        (
            "a tick, then a fractional now",
            step("reconcile", &night, tick),
            step("scale-up", &day, fraction),
            &ASLEEP_AFTER_FRIDAY,
        ),
        (
            "a fractional now, then a tick",
            step("scale-down", &night, fraction),
            step("reconcile", &day, tick),
            &ASLEEP_AFTER_FRIDAY,
        ),
        ("force in working hours", step("scale-down", &day, forced), step("scale-up", &day, up), &all_day),
    ];
    for (what, sleep, wake, sleeping) in cycles {
        let started = chrono::Utc::now() - chrono::Duration::seconds(1);
        let asleep = sleep.invoke().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(asleep["dry_run"], false, "{what}");
        assert_eq!(count(&asleep, "scaled_down"), sleeping.len() as u64, "{what}: {asleep:#}");
        assert_eq!(count(&asleep, "failed"), 0, "{what}: {asleep:#}");
        let state = seeder.snapshot(&DEMO_CLUSTERS).await;
        for &key in sleeping {
            assert_eq!(state[key].desired, 0, "{what}: {key}");
            let saved = &state[key].tags["cost-saver:saved"];
            let at = saved.rsplit_once("at=").map(|(_, at)| at).unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc);
            // Whole seconds, from the real clock: no later than now, no earlier than the invoke.
            assert!(!at.to_rfc3339().contains('.'), "{what}: {saved}");
            assert!(at >= started && at <= chrono::Utc::now(), "{what}: {saved}");
        }
        for (key, s) in &state {
            if !sleeping.contains(&key.as_str()) {
                assert_eq!(s, &before[key], "{what}: {key} must be untouched");
            }
        }

        let awake = wake.invoke().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(count(&awake, "restored"), sleeping.len() as u64, "{what}: {awake:#}");
        assert_eq!(count(&awake, "failed"), 0, "{what}: {awake:#}");
        assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await, before, "{what}: everything back exactly as it was");
    }
}
