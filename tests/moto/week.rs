//! A simulated week of `reconcile` ticks against moto server. At every tick each service must be
//! awake exactly when its schedule and keep-alive say so, and its saved state never lost or
//! overwritten. The expectation is computed here by hand, independently of the library.

use ecs_cost_saver::summary::Reported;
use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::cost::TaskSize;
use ecs_cost_saver::fleet::{
    CallError, ChangeService, FleetQuery, Observation, ReadFleet, ReadTraffic, RouteRequests, Selector,
};
use ecs_cost_saver::model::{Bounds, Forward, Fresh, ListenerRule, ServiceId, Tags};
use ecs_cost_saver::run::run;
use ecs_cost_saver::saved::SavedState;
use ecs_cost_saver::{Config, Invocation, Mode};
use testkit::{Moto, Seeder};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// moto stamps deployments with the real clock; this gives chosen services the creation time the
/// simulation says they have, and passes everything else through.
struct SimulatedDeployments<'a> {
    aws: &'a AwsFleet,
    created: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

impl ReadFleet for SimulatedDeployments<'_> {
    async fn observe(&self, query: &FleetQuery) -> Result<Observation, CallError> {
        let mut observation = self.aws.observe(query).await?;
        let created = self.created.lock().unwrap().clone();
        for s in &mut observation.services {
            if let Some(t) = created.get(&s.id.name) {
                s.last_deployed_at = Some(*t);
            }
        }
        Ok(observation)
    }
    async fn select(&self, selector: &Selector) -> Result<Observation, CallError> {
        self.aws.select(selector).await
    }
    async fn scalable_targets(&self, ids: &[ServiceId]) -> Result<BTreeMap<ServiceId, Bounds>, CallError> {
        self.aws.scalable_targets(ids).await
    }
    async fn task_sizes(&self, task_definitions: &[String]) -> BTreeMap<String, Result<TaskSize, String>> {
        self.aws.task_sizes(task_definitions).await
    }
    fn calls(&self) -> BTreeMap<String, u32> {
        self.aws.calls()
    }
}

impl ReadTraffic for SimulatedDeployments<'_> {
    async fn load_balancers_of(&self, target_groups: &[String]) -> Result<Vec<(String, Vec<String>)>, CallError> {
        self.aws.load_balancers_of(target_groups).await
    }
    async fn listener_rules(&self, lbs: &[String], tags_for: &[String]) -> Result<Vec<ListenerRule>, CallError> {
        self.aws.listener_rules(lbs, tags_for).await
    }
    async fn waking_groups(&self, marker: &str) -> Result<Vec<(String, Tags)>, CallError> {
        self.aws.waking_groups(marker).await
    }
    async fn internet_facing(&self, lbs: &[String]) -> Result<BTreeMap<String, bool>, CallError> {
        self.aws.internet_facing(lbs).await
    }
    async fn request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        self.aws.request_counts(target_groups, since, until).await
    }
}

impl ChangeService for SimulatedDeployments<'_> {
    async fn current(&self, ids: &[ServiceId], key: &str) -> Result<Vec<Fresh>, CallError> {
        self.aws.current(ids, key).await
    }
    async fn tag(&self, id: &ServiceId, key: &str, value: &str) -> Result<(), CallError> {
        self.aws.tag(id, key, value).await
    }
    async fn untag(&self, id: &ServiceId, key: &str) -> Result<(), CallError> {
        self.aws.untag(id, key).await
    }
    async fn set_bounds(&self, id: &ServiceId, bounds: Bounds) -> Result<(), CallError> {
        self.aws.set_bounds(id, bounds).await
    }
    async fn set_desired(&self, id: &ServiceId, desired: u32) -> Result<(), CallError> {
        self.aws.set_desired(id, desired).await
    }
}

impl RouteRequests for SimulatedDeployments<'_> {
    async fn ensure_waking_group(
        &self,
        name: &str,
        tags: &[(String, String)],
        waker: &str,
    ) -> Result<String, CallError> {
        self.aws.ensure_waking_group(name, tags, waker).await
    }
    async fn tag_rule(&self, rule_arn: &str, tags: &[(String, String)]) -> Result<(), CallError> {
        self.aws.tag_rule(rule_arn, tags).await
    }
    async fn forward_rule(&self, rule_arn: &str, forward: &Forward) -> Result<(), CallError> {
        self.aws.forward_rule(rule_arn, forward).await
    }
    async fn delete_target_group(&self, target_group: &str) -> Result<(), CallError> {
        self.aws.delete_target_group(target_group).await
    }
    async fn all_healthy(&self, target_groups: &[String]) -> Result<bool, CallError> {
        self.aws.all_healthy(target_groups).await
    }
}

const HOLIDAY: (i32, u32, u32) = (2026, 11, 11);

/// Awake on work days between `from` and `to` (minutes) of wall-clock time `offset_hours` from UTC,
/// holidays excepted. November 2026 has no DST change in either zone used here.
fn office(t: DateTime<Utc>, offset_hours: i64, from: u32, to: u32) -> bool {
    let local = t + Duration::hours(offset_hours);
    let minute = local.hour() * 60 + local.minute();
    let holiday = NaiveDate::from_ymd_opt(HOLIDAY.0, HOLIDAY.1, HOLIDAY.2).unwrap();
    !matches!(local.weekday(), Weekday::Sat | Weekday::Sun)
        && local.date_naive() != holiday
        && (from..to).contains(&minute)
}

fn ideal_awake(service: &str, t: DateTime<Utc>) -> Option<bool> {
    let default = office(t, 0, 8 * 60, 20 * 60);
    Some(match service {
        "api" | "web" => default,
        "berlin" => office(t, 1, 7 * 60 + 30, 19 * 60),
        "newyork" => office(t, -5, 8 * 60, 18 * 60),
        "friday-late" => default || t < at("2026-11-13T23:00:00Z"),
        "night-debug" => default || (at("2026-11-10T22:00:00Z") <= t && t < at("2026-11-11T01:00:00Z")),
        "pr-new" if t < at("2026-11-12T21:00:00Z") => return None,
        "pr-new" => default || t < at("2026-11-12T21:15:00Z"),
        other => panic!("unexpected service {other}"),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_week_of_reconcile_ticks_keeps_every_service_exactly_on_schedule() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s = Seeder::new(&sdk);
    s.cluster("office", &[("Environment", "dev")]).await;
    let original: BTreeMap<&str, i32> =
        [("api", 2), ("web", 1), ("berlin", 2), ("newyork", 1), ("friday-late", 1), ("night-debug", 1), ("pr-new", 1)]
            .into_iter()
            .collect();
    s.service("office", "api", 2, &[]).await;
    s.autoscale("office", "api", 1, 4, [false, false, false]).await;
    s.service("office", "web", 1, &[]).await;
    s.service("office", "berlin", 2, &[("cost-saver:schedule", "Mon-Fri 07:30-19:00 Europe/Berlin")]).await;
    s.service("office", "newyork", 1, &[("cost-saver:schedule", "Mon-Fri 08:00-18:00 America/New_York")]).await;
    s.service("office", "friday-late", 1, &[("cost-saver:keep-alive", "2026-11-13T23:00:00Z")]).await;
    let night_debug = s.service("office", "night-debug", 1, &[]).await;

    let config = Config::from_lookup(|k| (k == "HOLIDAYS").then(|| "2026-11-11".to_string())).unwrap();
    let aws = AwsFleet::new(&sdk);
    let fleet = SimulatedDeployments { aws: &aws, created: Mutex::new(BTreeMap::new()) };

    let (start, end) = (at("2026-11-09T07:00:00Z"), at("2026-11-16T09:00:00Z"));
    let (mut actual_hours, mut ideal_hours, mut always_hours) = (0.0, 0.0, 0.0);
    let mut saved_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut tick = start;
    let mut ticks = 0;
    while tick <= end {
        // What people do, just before the tick.
        if tick == at("2026-11-10T22:00:00Z") {
            s.tag(&night_debug, "cost-saver:keep-alive", "2026-11-11T01:00:00Z").await;
        }
        if tick == at("2026-11-12T21:00:00Z") {
            s.service("office", "pr-new", 1, &[]).await;
            fleet.created.lock().unwrap().insert("pr-new".into(), tick);
        }
        if tick == at("2026-11-14T10:00:00Z") {
            s.set_desired("office", "web", 3).await; // woken by hand, no keep-alive
        }

        let summary =
            run(&fleet, &config, Invocation { mode: Mode::Reconcile, now: tick, dry_run: false, force: false }, None)
                .await
                .unwrap();
        assert_eq!(summary.count(Reported::Failed), 0, "{tick}: {:?}", summary.failures().collect::<Vec<_>>());

        let state = s.snapshot(&["office"]).await;
        for (name, &want_desired) in &original {
            let Some(awake) = ideal_awake(name, tick) else { continue };
            let now = &state[&format!("office/{name}")];
            let expected = if awake { want_desired } else { 0 };
            assert_eq!(now.desired, expected, "{name} at {tick}: awake should be {awake}");
            if *name == "api" {
                let bounds = if awake { (1, 4, [false; 3]) } else { (0, 0, [true; 3]) };
                assert_eq!(now.target, Some(bounds), "api bounds at {tick}");
            }
            match now.tags.get("cost-saver:saved") {
                Some(value) => {
                    let saved = SavedState::parse(value).unwrap();
                    assert_eq!(saved.desired as i32, want_desired, "{name} saved at {tick}: {value}");
                    if *name == "api" {
                        let b = saved.bounds.unwrap();
                        assert_eq!((b.min, b.max), (1, 4));
                    }
                    // Within one sleep the saved value never changes.
                    let first = saved_seen.entry(name.to_string()).or_insert_with(|| value.clone());
                    assert_eq!(first, value, "{name}: saved overwritten at {tick}");
                    assert!(!awake, "{name} awake but still carrying saved at {tick}");
                }
                None => {
                    saved_seen.remove(*name);
                    assert!(awake || want_desired == 0, "{name} asleep without saved state at {tick}");
                }
            }
            actual_hours += f64::from(now.desired) * 0.25;
            ideal_hours += f64::from(expected) * 0.25;
            always_hours += f64::from(want_desired) * 0.25;
        }
        tick += Duration::minutes(15);
        ticks += 1;
    }
    println!(
        "simulated week, {ticks} reconcile ticks: awake task-hours {actual_hours:.2} (ideal {ideal_hours:.2}, always on {always_hours:.2}, {:.0}% avoided)",
        100.0 * (1.0 - actual_hours / always_hours)
    );
    assert_eq!(actual_hours, ideal_hours);
}
