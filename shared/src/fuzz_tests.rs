//! Hostile and malformed input never panics: every tag parser, payload, environment variable and
//! the planner over random services, 100,000 cases each. Fail-safe rules are checked as well.

use chrono::{DateTime, Utc};
use chrono_tz::{Tz, TZ_VARIANTS};
use proptest::prelude::*;
use serde_json::Value;

use crate::config::Config;
use crate::event::parse_invocation;
use crate::keep_alive::KeepAlive;
use crate::model::{Bounds, ObservedService, SchedulingStrategy, ServiceId, Suspension};
use crate::plan::{plan, Action, Invocation, Mode};
use crate::saved::SavedState;
use crate::schedule::Schedule;
use crate::tags::{read_tags, Scope};
use crate::wake::parse_wake;

/// 100,000 cases each; `PROPTEST_CASES` overrides it for quick local runs.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(100_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Pieces of the tag grammars and of their neighbours, to reach deep into the parsers.
const PIECES: &[&str] = &[
    "Mon",
    "mon",
    "MON",
    "Fri-Mon",
    "Mon-Fri",
    "Mon+Wed+Fri-Sun",
    "Sat+Sun",
    "Fry",
    "Mo€",
    "€",
    "08:00-20:00",
    "22:00-06:00",
    "00:00-24:00",
    "24:00-01:00",
    "8:00-9:00",
    "99:99-00:00",
    "08:00",
    "-",
    "+",
    ":",
    "::",
    "always",
    "never",
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Mars/Olympus",
    "desired=3",
    "min=1",
    "max=4",
    "suspended=in+out+scheduled",
    "suspended=none",
    "at=2026-11-20T20:00:00Z",
    "desired=-1",
    "min=9",
    "desired=99999999999999999999",
    "true",
    "false",
    "2026-11-21",
    "2026-11-21T18:30",
    "2026-11-21T02:00:00Z",
    "9999-12-31",
    "9999-12-31T23:59",
    "0000-01-01",
    "+262143-12-31",
    "2026-02-30",
    "2026-03-29T02:30",
    "9999-12-31T23:59:59Z",
    "\u{0}",
    "\u{202e}",
    "ñ",
    "😴",
    "=",
    "==",
    "\t",
    "\n",
];

fn soup() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,256}",
        "[A-Za-z0-9:+=/@. _-]{0,256}",
        prop::collection::vec(prop::sample::select(PIECES), 0..8).prop_map(|p| p.join(" ")),
        prop::collection::vec(prop::sample::select(PIECES), 0..4).prop_map(|p| p.concat()),
    ]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // From 1900 to 2200, plus the extremes an RFC 3339 `now` can express (years 0000 to 9999,
    // with the widest offsets); the clock and AWS stay far inside them.
    prop_oneof![
        // With nanoseconds, as a Lambda's clock has them: a whole-second `now` once hid a product
        // that slept nothing.
        (-2_208_988_800i64..7_258_118_400i64, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap()),
        Just(DateTime::parse_from_rfc3339("0000-01-01T00:00:00+23:59").unwrap().with_timezone(&Utc)),
        Just(DateTime::parse_from_rfc3339("9999-12-31T23:59:59-23:59").unwrap().with_timezone(&Utc)),
    ]
}

fn zone() -> impl Strategy<Value = Tz> {
    prop::sample::select(TZ_VARIANTS.to_vec())
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        soup().prop_map(Value::String),
    ];
    let keys = prop::sample::select(vec![
        "dry_run",
        "now",
        "force",
        "detail",
        "detail-type",
        "source",
        "version",
        "id",
        "time",
        "region",
        "resources",
        "account",
        "cluster",
        "service",
        "tag",
        "key",
        "value",
        "hours",
        "until",
        "dryrun",
    ]);
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(str::to_string), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn schedules_never_panic_and_round_trip(text in soup(), now in instant(), zone in zone()) {
        if let Ok(schedule) = Schedule::parse(&text) {
            let _ = schedule.verdict(now, zone, &[now.date_naive()]);
            prop_assert_eq!(Schedule::parse(&schedule.to_string()).unwrap(), schedule);
        }
    }

    #[test]
    fn keep_alives_never_panic(text in soup(), now in instant(), zone in zone()) {
        if let Ok(k) = KeepAlive::parse(&text) {
            let _ = k.expiry(zone);
            let _ = k.state(now, zone);
        }
    }

    #[test]
    fn saved_states_never_panic_and_valid_ones_round_trip(
        text in soup(),
        desired in any::<u32>(),
        bounds in prop::option::of((any::<u32>(), any::<u32>(), any::<[bool; 3]>())),
        at in instant(),
    ) {
        let _ = SavedState::parse(&text);
        let bounds = bounds.map(|(a, b, [i, o, s])| Bounds {
            min: a.min(b), max: a.max(b), suspended: Suspension { scale_in: i, scale_out: o, scheduled: s },
        });
        let at = DateTime::from_timestamp(at.timestamp().clamp(0, 253_402_300_799), at.timestamp_subsec_nanos()).unwrap();
        let state = SavedState { desired, bounds, at };
        // Only values the parser reads back exactly (to the whole second the tag holds), and never
        // sleeping ones, are ever written; a fraction of a second is never a reason to refuse.
        match state.to_tag_value() {
            Ok(value) => prop_assert_eq!(
                SavedState::parse(&value).unwrap(),
                SavedState { at: crate::clock::whole_seconds(at), ..state }
            ),
            Err(_) => prop_assert!(
                state.looks_asleep()
                    || state.desired > crate::saved::MAX_DESIRED
                    || bounds.is_some_and(|b| b.max > crate::saved::MAX_CAPACITY),
                "refused a state worth saving: {}", state
            ),
        }
    }

    #[test]
    fn payloads_never_panic(payload in json(), clock in instant(), dry in any::<bool>()) {
        let config = Config::from_lookup(|_| None).unwrap();
        for mode in [Mode::ScaleDown, Mode::ScaleUp, Mode::Reconcile] {
            if let Ok(inv) = parse_invocation(&payload, mode, clock, dry) {
                prop_assert!(inv.dry_run || !dry, "DRY_RUN cannot be switched off");
            }
        }
        if let Ok(request) = parse_wake(&payload, clock, &config) {
            prop_assert!(request.until > request.now);
        }
    }

    #[test]
    fn environment_values_never_panic_and_errors_name_the_variable(
        values in prop::collection::vec(prop::option::of(soup()), 18),
    ) {
        const NAMES: [&str; 18] = [
            "SCOPE_TAG_KEY", "SCOPE_TAG_VALUES", "PROTECTED_TAG_VALUES", "TAG_PREFIX", "TIMEZONE", "DEFAULT_SCHEDULE",
            "HOLIDAYS", "GRACE_PERIOD_MINUTES", "DRY_RUN", "MAX_WAKE_HOURS", "UPDATE_SERVICE_RATE",
            "UPDATE_SERVICE_BURST", "WRITE_CONCURRENCY", "PRICE_X86_VCPU_HOUR", "PRICE_X86_GB_HOUR",
            "PRICE_ARM_VCPU_HOUR", "PRICE_ARM_GB_HOUR", "UNRELATED",
        ];
        let lookup = |name: &str| NAMES.iter().position(|n| *n == name).and_then(|i| values[i].clone());
        if let Err(e) = Config::from_lookup(lookup) {
            prop_assert!(NAMES.contains(&e.variable));
            prop_assert!(e.to_string().contains(e.variable));
        }
    }

    #[test]
    fn the_planner_never_panics_and_fails_safe(
        tags in prop::collection::btree_map(tag_key(), soup(), 0..50),
        cluster_tags in prop::collection::btree_map(tag_key(), soup(), 0..10),
        desired in any::<u32>(),
        scaling in prop::option::of((any::<u32>(), any::<u32>(), any::<[bool; 3]>())),
        deployed in prop::option::of(instant()),
        status in prop::sample::select(vec!["ACTIVE", "DRAINING", "INACTIVE", ""]),
        daemon in any::<bool>(),
        now in instant(),
        mode in prop::sample::select(vec![Mode::ScaleDown, Mode::ScaleUp, Mode::Reconcile]),
        force in any::<bool>(),
    ) {
        let config = Config::from_lookup(|_| None).unwrap();
        let service = ObservedService {
            id: ServiceId { arn: "arn:aws:ecs:us-east-1:123456789012:service/c/s".into(), cluster: "c".into(), name: "s".into() },
            status: status.into(),
            strategy: if daemon { SchedulingStrategy::Daemon } else { SchedulingStrategy::Replica },
            desired,
            running: desired,
            tags: tags.clone(),
            cluster_tags: cluster_tags.clone(),
            last_deployed_at: deployed,
            // min > max on purpose: emulators accept it.
            scaling: scaling.map(|(min, max, [i, o, s])| Bounds { min, max, suspended: Suspension { scale_in: i, scale_out: o, scheduled: s } }),
            task_definition: None,
            launch: crate::cost::Launch::Fargate,
            target_groups: vec![],
            alternate_target_groups: vec![],
            external_deployments: None,
            requests: None,
            waking: None,
        };
        let inv = Invocation { mode, now, dry_run: false, force: force && mode == Mode::ScaleDown };
        let p = plan(std::slice::from_ref(&service), &config, inv);
        let view = read_tags(&service, &config, now);
        for entry in &p.entries {
            let sleeps = matches!(entry.action, Action::ScaleDown { .. } | Action::KeepAsleep { .. });
            if matches!(view.scope, Scope::Protected { .. }) {
                prop_assert!(!sleeps, "protected service put to sleep: {:?}", entry);
            }
            let unreadable_keep_alive = [&tags, &cluster_tags].iter().any(|t| {
                t.get("cost-saver:keep-alive").is_some_and(|v| KeepAlive::parse(v).is_err())
            });
            if unreadable_keep_alive {
                prop_assert!(!sleeps, "unreadable keep-alive must protect: {:?}", entry);
            }
            if let Action::ScaleDown { saved, .. } = &entry.action {
                prop_assert_eq!(SavedState::parse(&saved.to_string()), Ok(*saved));
                prop_assert!(!tags.contains_key("cost-saver:saved"), "saved state rewritten");
            }
        }
    }
}

fn tag_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Environment",
            "cost-saver:keep-alive",
            "cost-saver:schedule",
            "cost-saver:saved",
            "team",
            "preview-id",
        ])
        .prop_map(str::to_string),
        "[A-Za-z:/._-]{1,128}",
    ]
}

/// Tag values reach 256 characters; a 256-digit count or a 256-character schedule is refused.
#[test]
fn long_values_are_refused_cleanly() {
    let long = "9".repeat(256);
    assert!(SavedState::parse(&format!("desired={long} at=2026-11-20T20:00:00Z")).is_err());
    assert!(Schedule::parse(&long).is_err());
    assert!(KeepAlive::parse(&long).is_err());
}
