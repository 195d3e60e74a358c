//! Periodic work inside the server: the retention pass and the metrics
//! upkeep. Both run on the server's own runtime and end with it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::rt::task::JoinHandle;
use actix_web::web;

use crate::app::retention::{self, PruneReport, RetentionPolicy};
use crate::clock::now;
use crate::db::DbPool;
use crate::metrics::Metrics;

/// The first retention pass waits this long after start, so that a server
/// that starts (a test, a crash loop, a rolling deploy) does not begin with
/// a burst of deletes; then it runs every [`RETENTION_INTERVAL`].
pub const RETENTION_FIRST_DELAY: Duration = Duration::from_secs(5 * 60);
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// How often recorded latency samples are folded into their buckets.
pub const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// One retention pass on the blocking pool; `None` when another instance
/// holds the retention lock (PostgreSQL) and runs its pass right now.
pub async fn prune_once(
    pool: DbPool,
    policy: RetentionPolicy,
) -> anyhow::Result<Option<PruneReport>> {
    let report = web::block(move || retention::prune_exclusive(&pool, &policy, now())).await??;
    Ok(report)
}

/// Runs the retention pass after `first_delay`, then every `interval`.
/// A failed pass is logged and retried at the next tick.
pub fn spawn_retention(
    pool: DbPool,
    policy: RetentionPolicy,
    first_delay: Duration,
    interval: Duration,
) -> JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut ticks =
            actix_web::rt::time::interval_at(tokio::time::Instant::now() + first_delay, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match prune_once(pool.clone(), policy).await {
                Ok(Some(report)) => log::info!("retention pass removed {report}"),
                Ok(None) => log::info!("retention pass skipped: another instance runs one"),
                Err(e) => log::error!("retention pass failed: {e:#}"),
            }
        }
    })
}

/// Folds latency samples into buckets every `interval`, so that memory stays
/// flat whether or not anyone scrapes.
pub fn spawn_metrics_upkeep(metrics: Arc<Metrics>, interval: Duration) -> JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(interval);
        loop {
            ticks.tick().await;
            metrics.run_upkeep();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::retention::Target;
    use crate::config::DatabaseUrl;
    use diesel::connection::SimpleConnection;

    #[actix_web::test]
    async fn the_server_pass_prunes_after_its_first_delay() {
        let pool = crate::db::build_pool(&DatabaseUrl::Memory, 1).unwrap();
        pool.sqlite()
            .batch_execute(
                "INSERT INTO audit_events (type, created_at)
                 VALUES ('auth.logout', datetime('now', '-3 days'));",
            )
            .unwrap();
        let policy = RetentionPolicy {
            session_lifetime: chrono::Duration::days(1),
            audit_retention: Some(chrono::Duration::days(1)),
            trash_retention: chrono::Duration::days(30),
            batch_size: 10,
        };
        let task = spawn_retention(
            pool.clone(),
            policy,
            Duration::from_millis(50),
            Duration::from_secs(3600),
        );
        let remaining = || {
            use diesel::prelude::*;
            crate::db::schema::audit_events::table
                .count()
                .get_result::<i64>(&mut *pool.sqlite())
                .unwrap()
        };
        assert_eq!(remaining(), 1, "pruned before the first delay");
        let mut waited = 0;
        while remaining() > 0 && waited < 100 {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            waited += 1;
        }
        assert_eq!(remaining(), 0);
        task.abort();

        let report = prune_once(pool.clone(), policy).await.unwrap().unwrap();
        assert_eq!(report.removed(Target::AuditEvents), 0);
    }

    #[actix_web::test]
    async fn upkeep_runs_until_aborted() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let task = spawn_metrics_upkeep(Arc::clone(&metrics), Duration::from_millis(5));
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        task.abort();
        assert!(task.await.is_err());
    }
}
