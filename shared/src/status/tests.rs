use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::cost::{Arch, TaskSize};
use crate::memory::{MemoryFleet, MemoryService};

const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config() -> Config {
    Config::from_lookup(|_| None).unwrap()
}

/// Friday 2026-11-20 15:00 UTC: web awake (2 tasks), api asleep since 20:00 yesterday (saved 3),
/// docs kept alive until 22:00, db protected, and a service of another team out of scope.
fn fleet() -> MemoryFleet {
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_cluster("other", &[]);
    f.add_task_definition(TD, TaskSize { vcpu: 0.5, memory_gb: 1.0, arch: Arch::X86_64, linux: true });
    f.add_service(MemoryService::new("previews", "web", 2).runs(TD));
    f.add_service(
        MemoryService::new("previews", "api", 0)
            .runs(TD)
            .tag("cost-saver:saved", "desired=3 at=2026-11-19T20:00:00Z")
            .tag("cost-saver:schedule", "Mon-Fri 16:00-18:00 Europe/Berlin"),
    );
    f.add_service(MemoryService::new("previews", "docs", 1).tag("cost-saver:keep-alive", "2026-11-20T22:00:00Z"));
    f.add_service(MemoryService::new("previews", "db", 1).tag("Environment", "prod"));
    f.add_service(MemoryService::new("other", "billing", 4));
    f
}

#[tokio::test]
async fn status_shows_each_managed_service_with_the_planners_reason_next_transition_and_cost() {
    let (f, c) = (fleet(), config());
    let now = at("2026-11-20T15:00:00Z");
    let st = status(&f, &c, now, &Filter::default(), Duration::days(8)).await.unwrap();
    let names: Vec<&str> = st.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["api", "db", "docs", "web"], "out-of-scope billing is not listed");
    let row = |n: &str| st.services.iter().find(|s| s.service == n).unwrap().clone();

    let web = row("web");
    assert_eq!((web.state, web.now, web.tasks), ("awake", "skipped", 2));
    let next = web.next.unwrap();
    assert_eq!(
        (next.to, next.at, next.local.as_str()),
        ("sleep", at("2026-11-20T20:00:00Z"), "Fri 2026-11-20 20:00 UTC")
    );

    // Its own schedule in Berlin: 16:00 there is 15:00 UTC, so it is due now.
    let api = row("api");
    assert_eq!((api.state, api.now, api.tasks, api.zone.as_str()), ("asleep", "would_restore", 3, "Europe/Berlin"));
    assert_eq!(api.next.as_ref().unwrap().at, now, "due now");
    assert!(api.hourly_usd_avoided.is_some_and(|usd| usd > 0.0), "{api:?}");

    let docs = row("docs");
    assert_eq!((docs.state, docs.keep_alive_until.as_deref()), ("kept-alive", Some("2026-11-20T22:00:00Z")));
    assert_eq!(docs.next.unwrap().at, at("2026-11-20T22:00:00Z"), "sleeps when the keep-alive ends");
    assert_eq!((row("db").state, row("db").next), ("protected", None));

    assert_eq!((st.totals.services, st.totals.awake, st.totals.asleep, st.totals.kept_alive), (4, 2, 1, 1));
    assert_eq!(st.totals.asleep_tasks, 3);
    assert_eq!(st.totals.hourly_usd_avoided, api.hourly_usd_avoided.unwrap());
    assert!(f.log().is_empty(), "status writes nothing: {:?}", f.log());
}

#[tokio::test]
async fn transitions_skip_the_weekend_and_holidays() {
    let c = Config::from_lookup(|k| (k == "HOLIDAYS").then(|| "2026-11-23".to_string())).unwrap();
    let f = MemoryFleet::new();
    f.add_cluster("previews", &[("Environment", "preview")]);
    f.add_service(MemoryService::new("previews", "web", 2));
    let selector = Selector::Service { cluster: "previews".into(), service: "web".into() };
    let s = f.select(&selector).await.unwrap().services.remove(0);
    let got = transitions(&s, &c, at("2026-11-20T15:00:00Z"), at("2026-11-27T00:00:00Z"), 4);
    let seen: Vec<(&str, String)> = got.iter().map(|t| (t.to, t.local.clone())).collect();
    assert_eq!(
        seen,
        [
            ("sleep", "Fri 2026-11-20 20:00 UTC".to_string()),
            ("wake", "Tue 2026-11-24 08:00 UTC".to_string()),
            ("sleep", "Tue 2026-11-24 20:00 UTC".to_string()),
            ("wake", "Wed 2026-11-25 08:00 UTC".to_string()),
        ],
        "Monday is a holiday"
    );
}

#[tokio::test]
async fn filters_keep_one_cluster_or_one_tag() {
    let (f, c) = (fleet(), config());
    let now = at("2026-11-20T15:00:00Z");
    let by_tag =
        Filter { tag: Some(("cost-saver:keep-alive".into(), "2026-11-20T22:00:00Z".into())), ..Filter::default() };
    let st = status(&f, &c, now, &by_tag, Duration::days(1)).await.unwrap();
    assert_eq!(st.services.iter().map(|s| s.service.as_str()).collect::<Vec<_>>(), ["docs"]);
    let by_cluster = Filter { cluster: Some("other".into()), ..Filter::default() };
    assert!(status(&f, &c, now, &by_cluster, Duration::days(1)).await.unwrap().services.is_empty());
}

#[tokio::test]
async fn explain_lists_the_rules_in_the_planners_order_and_the_decision() {
    let (f, c) = (fleet(), config());
    let e = explain(&f, &c, "previews", "docs", at("2026-11-20T21:00:00Z")).await.unwrap();
    let rules: Vec<&str> = e.rules.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(rules, ["service", "scope", "saved state", "keep-alive", "schedule", "wake on request", "idle"]);
    assert_eq!(e.rules[3].1, "on the service, until 2026-11-20T22:00:00+00:00");
    assert!(e.rules[4].1.contains("says asleep at Fri 2026-11-20 21:00 UTC"), "{:?}", e.rules[4]);
    assert_eq!(e.action, "skipped");
    assert!(e.reason.contains("keep-alive"), "{}", e.reason);
    assert_eq!(e.next[0].at, at("2026-11-20T22:00:00Z"));
    let missing = explain(&f, &c, "previews", "nope", at("2026-11-20T21:00:00Z")).await.unwrap_err();
    assert_eq!(missing.to_string(), "no service previews/nope (or it is not ACTIVE)");
}

#[tokio::test]
async fn keep_alive_writes_a_validated_tag_refuses_protected_and_clears() {
    let (f, c) = (fleet(), config());
    let now = at("2026-11-20T21:00:00Z");
    let row =
        set_keep_alive(&f, &c, "previews", "web", KeepAliveChange::Until(now + Duration::hours(3)), now).await.unwrap();
    assert_eq!(f.service("previews", "web").tags["cost-saver:keep-alive"], "2026-11-21T00:00:00Z");
    assert_eq!((row.state, row.keep_alive_until.as_deref()), ("kept-alive", Some("2026-11-21T00:00:00Z")));

    let refused = set_keep_alive(&f, &c, "previews", "db", KeepAliveChange::Until(now + Duration::hours(1)), now).await;
    assert!(matches!(refused, Err(SetKeepAliveError::Protected(..))), "{refused:?}");
    let past = set_keep_alive(&f, &c, "previews", "web", KeepAliveChange::Until(now - Duration::hours(1)), now).await;
    assert!(past.unwrap_err().to_string().contains("in the past"));
    let far = now + Duration::hours(i64::from(MAX_KEEP_ALIVE_HOURS) + 1);
    assert!(set_keep_alive(&f, &c, "previews", "web", KeepAliveChange::Until(far), now).await.is_err());
    let other = set_keep_alive(&f, &c, "other", "billing", KeepAliveChange::Clear, now).await;
    assert!(matches!(other, Err(SetKeepAliveError::NotManaged(..))), "{other:?}");

    let row = set_keep_alive(&f, &c, "previews", "web", KeepAliveChange::Clear, now).await.unwrap();
    assert!(!f.service("previews", "web").tags.contains_key("cost-saver:keep-alive"));
    assert_eq!((row.state, row.now), ("awake", "would_scale_down"));
}
