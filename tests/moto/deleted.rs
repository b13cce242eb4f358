//! Services and clusters deleted while their services sleep are reported and skipped.

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::{Config, Invocation, Mode};
use testkit::{Moto, Seeder};

fn inv(mode: Mode, now: &str) -> Invocation {
    let now = DateTime::parse_from_rfc3339(now).unwrap().with_timezone(&Utc);
    Invocation { mode, now, dry_run: false, force: false }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_services_and_clusters_are_reported_and_skipped() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s = Seeder::new(&sdk);
    s.cluster("dev", &[("Environment", "dev")]).await;
    s.cluster("gone", &[]).await;
    s.service("dev", "kept", 2, &[]).await;
    s.service("dev", "deleted", 3, &[]).await;
    s.service("gone", "orphan", 1, &[("Environment", "dev")]).await;
    let fleet = AwsFleet::new(&sdk);
    let config = Config::from_lookup(|_| None).unwrap();
    let down = run(&fleet, &config, inv(Mode::ScaleDown, "2026-11-20T20:00:00Z")).await.unwrap();
    assert_eq!(down.count("scaled_down"), 3);

    s.ecs.delete_service().cluster("dev").service("deleted").force(true).send().await.unwrap();
    s.ecs.delete_service().cluster("gone").service("orphan").force(true).send().await.unwrap();
    s.ecs.delete_cluster().cluster("gone").send().await.unwrap();

    for mode in [Mode::ScaleUp, Mode::Reconcile] {
        let up = run(&fleet, &config, inv(mode, "2026-11-23T08:00:00Z")).await.unwrap();
        assert_eq!(up.count("failed"), 0, "{mode:?}: {:#?}", up.services);
        let kept = up.services.iter().find(|e| e.service == "kept").unwrap();
        let want = if mode == Mode::ScaleUp { "restored" } else { "skipped" };
        assert_eq!(kept.action, want, "{mode:?}: {kept:?}");
        let deleted = up.services.iter().find(|e| e.service == "deleted");
        let reported = deleted.is_some_and(|e| e.action == "skipped" && e.reason.contains("INACTIVE"))
            || up.warnings.iter().any(|w| w.contains("deleted"));
        assert!(reported, "{mode:?}: the deleted service is reported: {:#?}", up);
        assert!(
            up.services.iter().all(|e| e.service != "orphan" || e.action == "skipped")
                && (up.warnings.iter().any(|w| w.contains("gone"))
                    || up.services.iter().any(|e| e.service == "orphan")),
            "{mode:?}: the deleted cluster is reported: {up:#?}"
        );
    }
    assert_eq!(s.snapshot(&["dev"]).await["dev/kept"].desired, 2);
}
