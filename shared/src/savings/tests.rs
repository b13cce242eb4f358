use chrono::{DateTime, Utc};

use super::*;
use crate::config::Config;
use crate::cost::{Launch, TaskSize};
use crate::memory::{MemoryFleet, MemoryService};
use crate::model::{Bounds, Suspension};
use crate::plan::{Invocation, Mode};
use crate::run::run;
use crate::summary::Reported;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Friday at the end of the default working day, and Monday at its start: 60 hours apart.
const FRIDAY: &str = "2026-11-20T20:00:00Z";
const MONDAY: &str = "2026-11-23T08:00:00Z";

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() < 1e-9
}

fn size(vcpu: f64, gb: f64, arch: crate::cost::Arch) -> TaskSize {
    TaskSize { vcpu, memory_gb: gb, arch, linux: true }
}

/// Hand-priced fleet (us-east-1 defaults):
/// - small: x86 0.25 vCPU 0.5 GB, 4 tasks: 4 * (0.25*0.04048 + 0.5*0.004445) = 4 * 0.0123425 = 0.04937/h
/// - large: x86 1 vCPU 2 GB, 3 tasks:      3 * (0.04048 + 2*0.004445)        = 3 * 0.04937   = 0.14811/h
/// - arm:   ARM 2 vCPU 4 GB, 2 tasks:      2 * (2*0.03238 + 4*0.00356)       = 2 * 0.079     = 0.158/h
/// - spot:  Fargate Spot, 5 tasks: not estimated.
///
/// The small service is autoscaled with min 2 max 6: its saved desired (4) is what it would run.
fn fleet() -> MemoryFleet {
    use crate::cost::Arch::{Arm64, X86_64};
    let f = MemoryFleet::new();
    f.add_cluster("dev", &[("Environment", "dev")]);
    f.add_task_definition("td/small:1", size(0.25, 0.5, X86_64));
    f.add_task_definition("td/large:7", size(1.0, 2.0, X86_64));
    f.add_task_definition("td/arm:2", size(2.0, 4.0, Arm64));
    let bounds = Bounds { min: 2, max: 6, suspended: Suspension::NONE };
    f.add_service(MemoryService::new("dev", "small", 4).runs("td/small:1").autoscaled(bounds));
    f.add_service(MemoryService::new("dev", "small-twin", 0).runs("td/small:1"));
    f.add_service(MemoryService::new("dev", "large", 3).runs("td/large:7"));
    f.add_service(MemoryService::new("dev", "arm", 2).runs("td/arm:2"));
    let mut spot = MemoryService::new("dev", "spot", 5).runs("td/large:7");
    spot.launch = Launch::FargateSpot;
    f.add_service(spot);
    f
}

fn inv(mode: Mode, now: &str) -> Invocation {
    Invocation { mode, now: at(now), dry_run: false, force: false }
}

fn cost<'a>(s: &'a crate::Summary, name: &str) -> &'a ServiceCost {
    s.services.iter().find(|r| r.service == name).and_then(|r| r.cost.as_ref()).unwrap()
}

#[tokio::test]
async fn scale_down_reports_the_hourly_cost_of_what_sleeps() {
    let f = fleet();
    let config = Config::from_lookup(|_| None).unwrap();
    let s = run(&f, &config, inv(Mode::ScaleDown, FRIDAY), None).await.unwrap();
    assert_eq!(s.count(Reported::ScaledDown), 4);
    assert!(close(cost(&s, "small").hourly_usd_avoided.unwrap(), 0.04937));
    assert!(close(cost(&s, "large").hourly_usd_avoided.unwrap(), 0.14811));
    assert!(close(cost(&s, "arm").hourly_usd_avoided.unwrap(), 0.158));
    assert!(close(cost(&s, "arm").task_hourly_usd.unwrap(), 0.079));
    let spot = cost(&s, "spot");
    assert_eq!((spot.tasks, spot.hourly_usd_avoided), (5, None));
    assert_eq!(spot.note.as_deref(), Some("not estimated: Fargate Spot prices vary"));
    // 0.04937 + 0.14811 + 0.158 = 0.35548, to a hundredth of a cent.
    assert_eq!(s.savings.hourly_usd_avoided, 0.3555);
    assert_eq!((s.savings.asleep_services, s.savings.asleep_tasks, s.savings.not_estimated), (4, 14, 1));
    // The team's own zero is awake as far as money goes: no entry.
    assert!(s.services.iter().find(|r| r.service == "small-twin").unwrap().cost.is_none());
    // Three distinct Fargate task definitions, each asked once (the Spot one is never asked).
    assert_eq!(s.aws_calls.get("memory:TaskDefinition"), Some(&3));
}

#[tokio::test]
async fn scale_up_reports_hours_slept_and_dollars_saved_per_service() {
    let f = fleet();
    let config = Config::from_lookup(|_| None).unwrap();
    run(&f, &config, inv(Mode::ScaleDown, FRIDAY), None).await.unwrap();
    let s = run(&f, &config, inv(Mode::ScaleUp, MONDAY), None).await.unwrap();
    assert_eq!(s.count(Reported::Restored), 4);
    let arm = cost(&s, "arm");
    assert_eq!(arm.hours_slept, Some(60.0));
    assert!(close(arm.usd_saved.unwrap(), 9.48), "60 h * 0.158 = 9.48");
    assert!(close(cost(&s, "small").usd_saved.unwrap(), 2.9622), "60 h * 0.04937");
    assert!(close(cost(&s, "large").usd_saved.unwrap(), 8.8866), "60 h * 0.14811");
    assert_eq!(cost(&s, "spot").usd_saved, None);
    assert_eq!(s.savings.restored_services, 4);
    assert_eq!(s.savings.hours_slept, 240.0);
    // 9.48 + 2.9622 + 8.8866 = 21.3288
    assert_eq!(s.savings.usd_saved, 21.3288);
    assert_eq!((s.savings.asleep_services, s.savings.hourly_usd_avoided), (0, 0.0));
}

#[test]
fn configured_prices_flow_into_the_figures() {
    let p = crate::cost::Prices { x86_vcpu_hour: 0.1, x86_gb_hour: 0.01, arm_vcpu_hour: 0.0, arm_gb_hour: 0.0 };
    let hourly = p.task_hourly(Launch::Fargate, Some(&size(0.5, 1.0, crate::cost::Arch::X86_64)));
    let c =
        service_cost(Standing::Restored { tasks: 2, since: at(FRIDAY) }, hourly, at("2026-11-20T23:30:00Z")).unwrap();
    // 3.5 h * 2 tasks * (0.05 + 0.01)
    assert_eq!((c.hours_slept, c.usd_saved), (Some(3.5), Some(0.42)));
}

#[test]
fn a_clock_behind_the_saved_time_saves_nothing_rather_than_a_negative_amount() {
    let c = service_cost(Standing::Restored { tasks: 2, since: at(MONDAY) }, Ok(1.0), at(FRIDAY)).unwrap();
    assert_eq!((c.hours_slept, c.usd_saved), (Some(0.0), Some(0.0)));
}
