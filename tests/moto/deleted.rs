//! Services and clusters deleted while their services sleep are reported and skipped.

use chrono::{DateTime, Utc};
use ecs_cost_saver::aws::AwsFleet;
use ecs_cost_saver::run::run;
use ecs_cost_saver::summary::Reported;
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
    let down = run(&fleet, &config, inv(Mode::ScaleDown, "2026-11-20T20:00:00Z"), None).await.unwrap();
    assert_eq!(down.count(Reported::ScaledDown), 3);

    s.ecs.delete_service().cluster("dev").service("deleted").force(true).send().await.unwrap();
    s.ecs.delete_service().cluster("gone").service("orphan").force(true).send().await.unwrap();
    s.ecs.delete_cluster().cluster("gone").send().await.unwrap();

    for mode in [Mode::ScaleUp, Mode::Reconcile] {
        let up = run(&fleet, &config, inv(mode, "2026-11-23T08:00:00Z"), None).await.unwrap();
        assert_eq!(up.count(Reported::Failed), 0, "{mode:?}: {:#?}", up.services);
        let kept = up.services.iter().find(|e| e.service == "kept").unwrap();
        let want = if mode == Mode::ScaleUp { Reported::Restored } else { Reported::Skipped };
        assert_eq!(kept.action, want, "{mode:?}: {kept:?}");
        let deleted = up.services.iter().find(|e| e.service == "deleted");
        let reported = deleted.is_some_and(|e| e.action == Reported::Skipped && e.reason.contains("INACTIVE"))
            || up.warnings.iter().any(|w| w.contains("deleted"));
        assert!(reported, "{mode:?}: the deleted service is reported: {:#?}", up);
        assert!(
            up.services.iter().all(|e| e.service != "orphan" || e.action == Reported::Skipped)
                && (up.warnings.iter().any(|w| w.contains("gone"))
                    || up.services.iter().any(|e| e.service == "orphan")),
            "{mode:?}: the deleted cluster is reported: {up:#?}"
        );
    }
    assert_eq!(s.snapshot(&["dev"]).await["dev/kept"].desired, 2);
}
