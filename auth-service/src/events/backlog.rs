//! The outbox's backlog for the metrics (`outbox_unsent_events`,
//! `outbox_oldest_unsent_age_seconds`): the event-lag SLO's signal. Every replica samples it, not
//! only the relay lease's holder, so the series never goes stale when the holder changes; the
//! count uses the partial index of unsent rows.
use crate::{db::DbPool, metrics::Metrics, store::outbox};
use anyhow::Context;
use std::time::Duration;
use tokio::sync::watch;

/// How often the backlog is sampled: well inside a scrape interval's worth of staleness.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples until `stop` turns true. A failed sample makes the gauges unknown (NaN) rather than
/// keep a value that is no longer true: a stale age would hold an alert on (or off) for as long
/// as this replica cannot read its database, which the readiness check and the error budget
/// report.
pub async fn sample_periodically(pool: DbPool, metrics: Metrics, every: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match sample(&pool).await {
            Ok(backlog) => metrics.outbox_backlog(backlog.unsent as f64, backlog.oldest_age_seconds),
            Err(error) => {
                tracing::debug!(error = format!("{error:#}"), "sampling the outbox backlog");
                metrics.outbox_backlog(f64::NAN, f64::NAN);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn sample(pool: &DbPool) -> anyhow::Result<outbox::Backlog> {
    let mut conn = pool.get().await.context("no database connection")?;
    outbox::backlog(&mut conn).await.context("counting unsent outbox rows")
}
