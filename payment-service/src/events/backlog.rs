//! What waits in the store, for the metrics, sampled every few seconds by every replica (not
//! only the relay lease's holder, so the series never go stale when the holder changes):
//! - the outbox's backlog (`outbox_unsent_events`, `outbox_oldest_unsent_age_seconds`), the
//!   event-lag SLO's signal;
//! - the oldest pending payment's age (`payment_oldest_pending_age_seconds`): past the
//!   reconciler's maximum pending age, a payment it should have settled or given up was not.
use crate::{
    db::DbPool,
    metrics::Metrics,
    store::{outbox, payments},
};
use anyhow::Context;
use chrono::NaiveDateTime;
use std::time::Duration;
use tokio::sync::watch;

/// How often the backlog is sampled: well inside a scrape interval's worth of staleness.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples until `stop` turns true. A failed sample keeps the last values: the database being
/// down is the readiness check's and the error budget's to report.
pub async fn sample_periodically(pool: DbPool, metrics: Metrics, every: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(error) = sample(&pool, &metrics).await {
            tracing::debug!(error = format!("{error:#}"), "sampling the outbox backlog and pending payments");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn sample(pool: &DbPool, metrics: &Metrics) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("no database connection")?;
    let (unsent, oldest) = outbox::backlog(&mut conn).await.context("counting unsent outbox rows")?;
    metrics.outbox_backlog(unsent, age(oldest));
    let pending = payments::oldest_pending(&mut conn).await.context("reading the oldest pending payment")?;
    metrics.oldest_pending_payment(age(pending));
    Ok(())
}

/// Seconds since `written` (stored in UTC), 0 for none.
fn age(written: Option<NaiveDateTime>) -> f64 {
    written.map_or(0.0, |at| (chrono::Utc::now().naive_utc() - at).as_seconds_f64().max(0.0))
}
