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

/// Samples until `stop` turns true. A failed sample keeps the last values: the database being
/// down is the readiness check's and the error budget's to report.
pub async fn sample_periodically(pool: DbPool, metrics: Metrics, every: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match sample(&pool).await {
            Ok((unsent, oldest_age)) => metrics.outbox_backlog(unsent, oldest_age),
            Err(error) => tracing::debug!(error = format!("{error:#}"), "sampling the outbox backlog"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Rows waiting, and the oldest one's age in seconds (0 when none waits).
async fn sample(pool: &DbPool) -> anyhow::Result<(i64, f64)> {
    let mut conn = pool.get().await.context("no database connection")?;
    let (unsent, oldest) = outbox::backlog(&mut conn).await.context("counting unsent outbox rows")?;
    let age = oldest.map_or(0.0, |written| (chrono::Utc::now() - written).as_seconds_f64().max(0.0));
    Ok((unsent, age))
}
