//! What waits in the store, for the metrics, sampled every few seconds by every replica (not
//! only the relay lease's holder, so the series never go stale when the holder changes):
//! - the outbox's backlog (`outbox_unsent_events`, `outbox_oldest_unsent_age_seconds`), the
//!   event-lag SLO's signal;
//!
//! Ages are the database's to compute (`store::outbox::backlog`, `store::payments`), on its
//! own clock and in the time zone each column was written in.
//! - the oldest pending payment's age (`payment_oldest_pending_age_seconds`): past the
//!   reconciler's maximum pending age, a payment it should have settled or given up was not.
use crate::{
    db::DbPool,
    metrics::Metrics,
    store::{outbox, payments},
};
use anyhow::Context;
use std::time::Duration;
use tokio::sync::watch;

/// How often the backlog is sampled: well inside a scrape interval's worth of staleness.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples until `stop` turns true. A failed sample makes the gauges unknown (NaN) rather than
/// keep values that are no longer true: a stale age would hold an alert on (or off) for as long
/// as this replica cannot read its database, which the readiness check and the error budget
/// report.
pub async fn sample_periodically(pool: DbPool, metrics: Metrics, every: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(error) = sample(&pool, &metrics).await {
            tracing::debug!(error = format!("{error:#}"), "sampling the outbox backlog and pending payments");
            metrics.outbox_backlog(f64::NAN, f64::NAN);
            metrics.oldest_pending_payment(f64::NAN);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn sample(pool: &DbPool, metrics: &Metrics) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("no database connection")?;
    let backlog = outbox::backlog(&mut conn).await.context("counting unsent outbox rows")?;
    metrics.outbox_backlog(backlog.unsent as f64, backlog.oldest_age_seconds);
    let pending = payments::oldest_pending_age(&mut conn).await.context("reading the oldest pending payment")?;
    metrics.oldest_pending_payment(pending);
    Ok(())
}
