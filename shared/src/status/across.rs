//! `status` and `next` over `TARGETS`: each target read on its own, side by side, and one
//! answer with the account and region on every line. A target that cannot be read is named in
//! `targets_failed` and never hides the others.

use chrono::{DateTime, Duration, Utc};

use super::{environments, status, totals, upcoming, Filter, FleetStatus, Upcoming};
use crate::config::Config;
use crate::fleet::{ReadFleet, ReadTraffic};
use crate::hub::Reached;

/// The fleet's standing on every reached target at `now`.
pub async fn status_across<F: ReadFleet + ReadTraffic>(
    reached: &[Reached<F>],
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
    horizon: Duration,
) -> FleetStatus {
    let permits = &tokio::sync::Semaphore::new(crate::hub::TARGETS_AT_ONCE);
    let reads = reached.iter().map(|r| async move {
        let _turn = permits.acquire().await;
        match &r.fleet {
            Ok(fleet) => status(fleet, config, now, filter, horizon).await.map_err(|e| e.to_string()),
            Err(why) => Err(why.clone()),
        }
    });
    let parts = futures_util::future::join_all(reads).await;
    let mut merged = FleetStatus {
        now,
        services: Vec::new(),
        totals: Default::default(),
        environments: Vec::new(),
        warnings: Vec::new(),
        aws_calls: Default::default(),
        targets_failed: Vec::new(),
    };
    for (r, part) in reached.iter().zip(parts) {
        let target = &r.target;
        let part = match part {
            Ok(part) => part,
            Err(why) => {
                merged.targets_failed.push(format!("{target}: {why}"));
                continue;
            }
        };
        merged.services.extend(part.services.into_iter().map(|mut s| {
            s.account = Some(target.account.clone());
            s.region = Some(target.region.clone());
            s
        }));
        merged.warnings.extend(part.warnings.into_iter().map(|w| format!("{target}: {w}")));
        for (op, n) in part.aws_calls {
            *merged.aws_calls.entry(op).or_insert(0) += n;
        }
    }
    merged.totals = totals(&merged.services);
    merged.environments = environments(&merged.services);
    merged
}

/// Every transition foreseen on every reached target, in time order; the targets that could
/// not be read, and why.
pub async fn upcoming_across<F: ReadFleet + ReadTraffic>(
    reached: &[Reached<F>],
    config: &Config,
    now: DateTime<Utc>,
    filter: &Filter,
    horizon: Duration,
) -> (Vec<Upcoming>, Vec<String>) {
    let permits = &tokio::sync::Semaphore::new(crate::hub::TARGETS_AT_ONCE);
    let reads = reached.iter().map(|r| async move {
        let _turn = permits.acquire().await;
        match &r.fleet {
            Ok(fleet) => upcoming(fleet, config, now, filter, horizon).await.map_err(|e| e.to_string()),
            Err(why) => Err(why.clone()),
        }
    });
    let parts = futures_util::future::join_all(reads).await;
    let (mut all, mut failed) = (Vec::new(), Vec::new());
    for (r, part) in reached.iter().zip(parts) {
        match part {
            Ok(part) => all.extend(part.into_iter().map(|mut u| {
                u.account = Some(r.target.account.clone());
                u.region = Some(r.target.region.clone());
                u
            })),
            Err(why) => failed.push(format!("{}: {why}", r.target)),
        }
    }
    all.sort_by(|a, b| {
        (a.transition.at, &a.account, &a.region, &a.cluster, &a.service).cmp(&(
            b.transition.at,
            &b.account,
            &b.region,
            &b.cluster,
            &b.service,
        ))
    });
    (all, failed)
}
