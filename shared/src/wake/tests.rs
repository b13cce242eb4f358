use serde_json::json;

use super::*;
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::run::run;
use crate::summary::{Caller, Reported};

const SAVED: &str = "cost-saver:saved";
const KEEP: &str = "cost-saver:keep-alive";
const NIGHT: &str = "2026-11-20T22:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|_| None).unwrap()
}

fn parse(payload: Value) -> Result<WakeRequest, PayloadError> {
    parse_wake(&payload, at(NIGHT), &config())
}

#[test]
fn parses_every_selector_and_duration() {
    let r = parse(json!({"cluster": "previews", "service": "pr-1", "hours": 2})).unwrap();
    assert_eq!(r.selector, Selector::Service { cluster: "previews".into(), service: "pr-1".into() });
    assert_eq!(r.until, at("2026-11-21T00:00:00Z"));
    let r = parse(json!({"cluster": "previews", "hours": 1.5})).unwrap();
    assert_eq!((r.selector, r.until), (Selector::Cluster { cluster: "previews".into() }, at("2026-11-20T23:30:00Z")));
    let r = parse(
        json!({"tag": {"key": "preview-id", "value": "pr-7"}, "until": "2026-11-21T02:00:00+01:00", "dry_run": true}),
    )
    .unwrap();
    assert_eq!(r.selector, Selector::Tag { key: "preview-id".into(), value: "pr-7".into() });
    assert_eq!(r.until, at("2026-11-21T01:00:00Z"));
    assert!(r.dry_run);
}

#[test]
fn refuses_bad_requests_with_a_reason() {
    for (payload, needle) in [
        (json!({"hours": 2}), "name a `cluster`"),
        (json!({"service": "x", "hours": 2}), "needs its `cluster`"),
        (json!({"cluster": "c", "tag": {"key": "k", "value": "v"}, "hours": 2}), "not both"),
        (json!({"cluster": "c"}), "`hours` or `until`"),
        (json!({"cluster": "c", "hours": 2, "until": "2026-11-21T00:00:00Z"}), "not both"),
        (json!({"cluster": "c", "hours": 0}), "above 0"),
        // Found by the property test: positive, yet zero seconds once rounded.
        (json!({"cluster": "c", "hours": 3.4e-173}), "less than a minute"),
        (json!({"cluster": "c", "hours": 73}), "MAX_WAKE_HOURS (72)"),
        (json!({"cluster": "c", "until": "2026-11-20T21:00:00Z"}), "not in the future"),
        (json!({"cluster": "c", "until": "2026-11-25T00:00:00Z"}), "more than MAX_WAKE_HOURS"),
        (json!({"cluster": "c", "until": "tomorrow"}), "RFC 3339"),
        (json!({"cluster": " ", "hours": 1}), "`cluster` is empty"),
        (json!({"cluster": "c", "hours": 1, "minutes": 5}), "unknown field `minutes`"),
        (json!(["c"]), "JSON object"),
    ] {
        let err = parse(payload.clone()).expect_err(&payload.to_string());
        assert!(err.to_string().contains(needle), "{payload}: {err}");
    }
}

fn asleep(cluster: &str, name: &str, desired: u32) -> MemoryService {
    MemoryService::new(cluster, name, 0).tag(SAVED, &format!("desired={desired} at=2026-11-20T20:00:00Z"))
}

fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_cluster("pr-7", &[("Environment", "preview"), ("preview-id", "pr-7")]);
    f.add_cluster("prod", &[("Environment", "prod")]);
    f.add_cluster("misc", &[]);
    f.add_service(
        MemoryService::new("previews", "api", 0)
            .tag(SAVED, "desired=3 min=1 max=4 suspended=none at=2026-11-20T20:00:00Z")
            .autoscaled(Bounds::ASLEEP),
    );
    f.add_service(asleep("previews", "web", 2));
    f.add_service(asleep("pr-7", "web", 1));
    f.add_service(asleep("pr-7", "worker", 2));
    f.add_service(MemoryService::new("pr-7", "awake", 1));
    f.add_service(MemoryService::new("prod", "db", 2));
    f.add_service(MemoryService::new("misc", "tool", 1).tag("Environment", "staging"));
    f
}

async fn wake_with(f: &MemoryFleet, payload: Value) -> Result<WakeReport, WakeError> {
    let req = parse_wake(&payload, at(NIGHT), &config()).unwrap();
    wake(f, &config(), &req, None).await
}

#[tokio::test]
async fn wakes_one_named_service_and_keeps_it_awake_until_the_keep_alive_ends() {
    let f = fleet();
    let report = wake_with(&f, json!({"cluster": "previews", "service": "api", "hours": 3})).await.unwrap();
    assert_eq!(report.until, "2026-11-21T01:00:00Z");
    assert_eq!(report.kept_alive.len(), 1);
    assert_eq!(report.summary.caller, Caller::Wake);
    assert_eq!(report.summary.count(Reported::Restored), 1);
    let api = f.service("previews", "api");
    assert_eq!((api.desired, api.scaling), (3, Some(Bounds { min: 1, max: 4, suspended: Suspension::NONE })));
    assert_eq!(api.tags[KEEP], "2026-11-21T01:00:00Z");
    assert!(!api.tags.contains_key(SAVED));
    assert_eq!(f.service("previews", "web").desired, 0, "only the named service");

    let c = config();
    let tick = |t: &str| Invocation { mode: Mode::Reconcile, now: at(t), dry_run: false, force: false };
    run(&f, &c, tick("2026-11-21T00:45:00Z"), None).await.unwrap();
    assert_eq!(f.service("previews", "api").desired, 3, "reconcile keeps it awake");
    run(&f, &c, tick("2026-11-21T01:00:00Z"), None).await.unwrap();
    assert_eq!(f.service("previews", "api").desired, 0, "asleep once the keep-alive ends");
}

#[tokio::test]
async fn wakes_every_service_matched_by_a_tag() {
    let f = fleet();
    let report = wake_with(&f, json!({"tag": {"key": "preview-id", "value": "pr-7"}, "hours": 2})).await.unwrap();
    assert_eq!(report.summary.count(Reported::Restored), 2);
    assert_eq!(report.kept_alive.len(), 3, "the awake one is kept alive too");
    assert_eq!(f.service("pr-7", "web").desired, 1);
    assert_eq!(f.service("pr-7", "worker").desired, 2);
    assert_eq!(f.service("pr-7", "awake").tags[KEEP], "2026-11-21T00:00:00Z");
    assert_eq!(f.service("previews", "web").desired, 0);
}

#[tokio::test]
async fn refuses_protected_unknown_and_unmanaged_targets_without_writing() {
    let f = fleet();
    for (payload, kind) in [
        (json!({"cluster": "prod", "hours": 1}), "Protected"),
        (json!({"cluster": "prod", "service": "db", "hours": 1}), "Protected"),
        (json!({"cluster": "nope", "hours": 1}), "NotFound"),
        (json!({"cluster": "previews", "service": "nope", "hours": 1}), "NotFound"),
        (json!({"cluster": "nope", "service": "api", "hours": 1}), "NotFound"),
        (json!({"tag": {"key": "preview-id", "value": "pr-404"}, "hours": 1}), "NotFound"),
        (json!({"cluster": "misc", "hours": 1}), "NotManaged"),
    ] {
        let err = wake_with(&f, payload.clone()).await.unwrap_err();
        assert_eq!(err.kind().0, kind, "{payload}: {err}");
    }
    assert_eq!(f.writes(), 0);
}

#[tokio::test]
async fn never_shortens_a_longer_keep_alive_and_dry_run_writes_nothing() {
    let f = fleet();
    f.edit("previews", "web", |s| {
        s.tags.insert(KEEP.into(), "true".into());
    });
    let report = wake_with(&f, json!({"cluster": "previews", "service": "web", "hours": 1})).await.unwrap();
    assert!(!report.kept_alive[0].written);
    assert_eq!(f.service("previews", "web").tags[KEEP], "true");
    assert_eq!(f.service("previews", "web").desired, 2, "still restored now");

    let dry =
        wake_with(&f, json!({"cluster": "previews", "service": "api", "hours": 1, "dry_run": true})).await.unwrap();
    assert_eq!(dry.summary.count(Reported::WouldRestore), 1);
    assert_eq!(f.service("previews", "api").desired, 0);
    assert!(!f.service("previews", "api").tags.contains_key(KEEP));
}

#[tokio::test]
async fn a_failed_keep_alive_write_leaves_that_service_alone_and_is_reported() {
    let f = fleet();
    f.fail_write(1);
    let report = wake_with(&f, json!({"cluster": "previews", "hours": 1})).await.unwrap();
    assert_eq!(report.summary.count(Reported::Failed), 1);
    assert_eq!(report.summary.count(Reported::Restored), 1);
    let failed = report.summary.failures().next().unwrap();
    assert_eq!(failed.service, "api");
    assert_eq!(f.service("previews", "api").desired, 0, "not restored without its keep-alive");
}

/// Issue 9: what `wake` must refuse or say.
mod hostile {
    use super::*;

    fn clock() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T21:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn issue9_item5_wake_refuses_nulls_and_wrong_shapes() {
        let c = config();
        for (payload, needle) in [
            (json!({"tag": ["preview-id", "pr-1"], "hours": 1}), "`tag` must be an object"),
            (json!({"tag": "preview-id=pr-1", "hours": 1}), "`tag` must be an object"),
            (json!({"cluster": "previews", "hours": 1, "dry_run": null}), "`dry_run` is null"),
            (json!({"tag": {"key": "preview-id", "value": null}, "hours": 1}), "`value` is null"),
            (json!({"cluster": "previews", "service": null, "hours": 1}), "`service` is null"),
        ] {
            let err = parse_wake(&payload, clock(), &c).unwrap_err();
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn issue9_item6_wake_measures_keep_alives_from_the_real_clock() {
        let c = config();
        let err = parse_wake(&json!({"cluster": "previews", "hours": 72, "now": "2099-01-01T00:00:00Z"}), clock(), &c)
            .unwrap_err();
        assert!(err.to_string().contains("`now` is only for dry runs"), "{err}");
        let err = parse_wake(
            &json!({"cluster": "previews", "until": "2099-01-01T00:00:00Z", "now": "2098-12-31T00:00:00Z"}),
            clock(),
            &c,
        )
        .unwrap_err();
        assert!(err.to_string().contains("only for dry runs"), "{err}");
        // An `until` already past by the real clock is refused, whatever `now` a dry run names.
        let err =
            parse_wake(&json!({"cluster": "previews", "until": "2026-11-20T20:00:00Z"}), clock(), &c).unwrap_err();
        assert!(err.to_string().contains("not in the future"), "{err}");
        let req = parse_wake(&json!({"cluster": "previews", "hours": 2}), clock(), &c).unwrap();
        assert_eq!(req.until, clock() + chrono::Duration::hours(2));
        // A what-if is allowed as a dry run, within the window.
        let dry = parse_wake(
            &json!({"cluster": "previews", "hours": 2, "dry_run": true, "now": "2026-11-21T09:00:00Z"}),
            clock(),
            &c,
        )
        .unwrap();
        assert!(dry.dry_run);
        let far = parse_wake(
            &json!({"cluster": "previews", "hours": 2, "dry_run": true, "now": "2099-01-01T00:00:00Z"}),
            clock(),
            &c,
        );
        assert!(far.unwrap_err().to_string().contains("days from the real clock"));
    }

    #[tokio::test]
    async fn issue9_item7_a_dry_run_wake_writes_nothing_and_says_so() {
        let f = fleet();
        let c = config();
        let req = parse_wake(&json!({"cluster": "previews", "hours": 2, "dry_run": true}), clock(), &c).unwrap();
        let report = wake(&f, &c, &req, None).await.unwrap();
        assert!(!report.kept_alive.is_empty());
        assert!(report.kept_alive.iter().all(|k| !k.written), "{:?}", report.kept_alive);
        assert_eq!(f.writes(), 0);
    }

    #[test]
    fn issue9_item8_wake_errors_cut_what_they_echo() {
        let c = config();
        let huge = "p".repeat(1 << 20);
        for payload in [
            json!({"cluster": huge, "hours": 1}),
            json!({"tag": {"key": "k", "value": huge}, "hours": 1}),
            json!({"cluster": "previews", "until": huge}),
            json!({huge.clone(): 1}),
        ] {
            let err = parse_wake(&payload, clock(), &c).unwrap_err().to_string();
            assert!(err.len() < 1_000, "{} bytes: {}", err.len(), &err[..200]);
        }
    }

    /// The real clock has nanoseconds; the tag holds seconds. What is written must read back.
    #[tokio::test]
    async fn issue9_item2_a_keep_alive_from_a_sub_second_clock_reads_back() {
        let f = fleet();
        let c = config();
        let clock = DateTime::parse_from_rfc3339("2026-11-20T21:00:00.123456789Z").unwrap().with_timezone(&Utc);
        let req = parse_wake(&json!({"cluster": "previews", "hours": 2}), clock, &c).unwrap();
        assert_eq!(crate::plan::rfc3339(req.until), "2026-11-20T23:00:00Z");
        let report = wake(&f, &c, &req, None).await.unwrap();
        assert_eq!(report.summary.count(Reported::Failed), 0, "{:?}", report.summary.services);
        assert!(report.kept_alive.iter().all(|k| k.written && k.until == "2026-11-20T23:00:00Z"));
    }
}
