//! The outbox relay: publishes unsent outbox rows in id order with the idempotent producer,
//! then marks them sent. While the broker is down rows wait; nothing is lost.
//!
//! One publisher at a time, whatever the number of replicas, so that per key the topic holds
//! the events in outbox id order. Rows used to be claimed with `FOR UPDATE SKIP LOCKED`: a
//! second replica then published the rows behind the first one's batch while that batch was
//! still in flight, and a consumer could apply an older event over a newer one.
//!
//! A round is one transaction that first takes the relay lease, the transaction-level advisory
//! lock `RELAY_LEASE` (`db.rs`; advisory locks are scoped to the database). `pg_try_advisory_xact_lock` never
//! waits: a replica that finds the lease taken skips its round, because another one is
//! publishing the same rows. So a replica behind one that waits on a down broker neither waits
//! on a lock nor logs anything. PostgreSQL frees the lease when the holder commits or rolls
//! back (or its session ends), and only after that commit became visible to new snapshots.
//!
//! Why the batch is the lowest unsent rows, in id order: under READ COMMITTED (the default)
//! each statement takes a new snapshot. The SELECT of the batch starts after the lease was
//! taken, so after the previous holder's commit, and sees every `sent_at` it stamped; no other
//! relay stamps or locks rows until this one commits. The rows are still read with a plain,
//! blocking `FOR UPDATE`, never SKIP LOCKED: should anything else lock an outbox row, the relay
//! waits for it and re-checks `sent_at IS NULL` on the row's newest version instead of passing
//! over a lower id (rows are locked in ORDER BY order, before the LIMIT counts them). The one
//! producer gets the batch in id order and the idempotent producer keeps that order within a
//! partition; the next holder starts only after this batch was acknowledged and stamped (or, on
//! a failure, left unsent from the failed row on, to be sent again after its predecessors).
//!
//! A row the broker refuses (its schema registry: the value is not the topic's Envelope) stays
//! unsent, and so do the rows behind it: each round that stops there is counted in
//! `outbox_publish_failures_total{reason="refused"}` and logged as an error, until the contract
//! or the producer is fixed. The producer is gapless and made again once it failed for good
//! (`producer.rs`), so nothing behind a refused row overtakes it.
//!
//! Not the relay's to order: rows of transactions not yet committed are invisible, so an id
//! taken by a transaction that commits after a higher id was published goes out after it.
//! Events whose order matters must come from transactions that commit one after the other
//! (the later one waits for the earlier one's row lock before it enqueues).
use super::producer::OutboxProducer;
use crate::{
    db::DbPool,
    kafka_producer::{DeliveryFuture, KafkaProducer},
    metrics::Metrics,
    store::{
        self,
        outbox::{self, Unsent},
    },
};
use anyhow::Context;
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::FutureRecord,
};
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Rows per batch in production (`run`).
pub const BATCH: i64 = 100;

pub struct Relay {
    pub pool: DbPool,
    pub producer: OutboxProducer,
    /// Counts the rounds a row failed to go out, by reason (`outbox_publish_failures_total`).
    pub metrics: Metrics,
    /// Rung after a transaction of this process committed an event.
    pub wake: Arc<Notify>,
    /// Pause when the outbox is empty and nobody rings: rows of other replicas, or left by a
    /// crash, are found within this.
    pub idle_poll: Duration,
    /// Bound on waiting for one row's acknowledgement (the broker may be down).
    pub send_timeout: Duration,
}

impl Relay {
    /// Publishes until `stop` turns true; a batch in hand is finished first.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        self.run_in_batches_of(BATCH, stop).await
    }

    /// `run`, with batches of up to `batch` rows (tests use small ones).
    pub async fn run_in_batches_of(self, batch: i64, mut stop: watch::Receiver<bool>) {
        let mut backoff = self.idle_poll;
        while !*stop.borrow() {
            let mut failed = false;
            let pause = match self.publish_batch(batch).await {
                Ok(0) => self.idle_poll,
                Ok(_) => {
                    backoff = self.idle_poll;
                    continue;
                }
                Err(error) => {
                    failed = true;
                    tracing::warn!(
                        error = format!("{error:#}"),
                        retry_in_ms = backoff.as_millis() as u64,
                        "outbox relay"
                    );
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    pause
                }
            };
            // After a failed round the whole backoff is waited: every commit rings `wake`, and a
            // round per commit would hammer a broker that is down or refusing.
            tokio::select! {
                _ = self.wake.notified(), if !failed => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Publishes up to `batch` rows; returns how many were published (none while another
    /// replica holds the lease).
    pub async fn publish_batch(&self, batch: i64) -> anyhow::Result<usize> {
        let mut conn = self.pool.get().await.context("no database connection")?;
        store::transaction::<_, anyhow::Error, _>(&mut conn, |conn| {
            async move {
                let leased = outbox::take_relay_lease(conn).await.context("taking the relay lease")?;
                if !leased {
                    return Ok(0);
                }
                // Behind a refused row, only that row is tried: the rest of a batch would be sent
                // (other partitions acknowledge it) and sent again every round.
                let batch = if self.producer.refusing() { 1 } else { batch };
                let rows = outbox::unsent(conn, batch).await.context("reading unsent outbox rows")?;
                let mut sent = Vec::with_capacity(rows.len());
                let mut failure = None;
                // The whole batch goes to the producer before any delivery is awaited: librdkafka
                // then sends it in as few produce requests as it can (in id order within a
                // partition: the producer is idempotent), not one round trip per row.
                let producer = self.producer.get()?;
                let mut deliveries = Vec::with_capacity(rows.len());
                for row in &rows {
                    match self.enqueue(&producer, row) {
                        Ok(delivery) => deliveries.push((row.id, delivery)),
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                for (id, delivery) in deliveries {
                    match self.delivered(id, delivery).await {
                        Ok(()) => sent.push(id),
                        // Stop at the first failure: no row after it is marked sent, so all of
                        // them go again later, after it (consumers drop repeats by event id).
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                if !sent.is_empty() {
                    outbox::mark_sent(conn, &sent).await?;
                }
                if let Some(failure) = &mut failure {
                    // A row of another partition, failed by the producer turning fatal, may be
                    // awaited before the refused one: the producer's fatal error says why.
                    if failure.reason == UNAVAILABLE && OutboxProducer::refused_a_record(&producer) {
                        failure.reason = REFUSED;
                    }
                    self.count(failure);
                }
                self.producer.set_refusing(failure.as_ref().is_some_and(|failure| failure.reason == REFUSED));
                match failure.map(|failure| failure.error) {
                    Some(error) if sent.is_empty() => Err(error),
                    Some(error) => {
                        // The rows before the failed one stand; the rest go again next round.
                        tracing::warn!(error = format!("{error:#}"), sent = sent.len(), "outbox relay");
                        Ok(sent.len())
                    }
                    None => Ok(sent.len()),
                }
            }
            .scope_boxed()
        })
        .await
    }

    fn enqueue(&self, producer: &KafkaProducer, row: &Unsent) -> Result<DeliveryFuture, Failure> {
        let mut headers = OwnedHeaders::new().insert(Header { key: "event_type", value: Some(&row.event_type) });
        if let Some(traceparent) = &row.traceparent {
            headers = headers.insert(Header { key: "traceparent", value: Some(traceparent) });
        }
        let record = FutureRecord::to(&row.topic).key(&row.aggregate_id).payload(&row.envelope).headers(headers);
        producer
            .send_result(record)
            .map_err(|(error, _)| Failure::kafka(error, format!("queueing outbox row {}", row.id)))
    }

    async fn delivered(&self, id: i64, delivery: DeliveryFuture) -> Result<(), Failure> {
        match tokio::time::timeout(self.send_timeout, delivery).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err((error, _)))) => Err(Failure::kafka(error, format!("publishing outbox row {id}"))),
            Ok(Err(_)) => Err(Failure::unavailable(anyhow::anyhow!("the producer dropped outbox row {id}"))),
            Err(_) => Err(Failure::unavailable(anyhow::anyhow!(
                "outbox row {id} not acknowledged within {:?}",
                self.send_timeout
            ))),
        }
    }

    /// A refused row stays unsent, and so does every row after it: the relay keeps order. It is
    /// tried again each round (backing off to 5 s) until the producer or the contract is fixed;
    /// the counter tells an operator it waits, the error log says on which row and why.
    fn count(&self, failure: &Failure) {
        self.metrics.outbox_publish_failed(failure.reason);
        if failure.reason == REFUSED {
            tracing::error!(
                error = format!("{:#}", failure.error),
                "the broker refused an outbox row; it and the rows after it wait unsent"
            );
        }
    }
}

/// `reason` of a row the broker answered it will never take as it is (the schema registry
/// refusing a value that is not the topic's Envelope, or a record over the size limit).
pub const REFUSED: &str = "refused";
/// `reason` of a row that did not reach the broker or was not acknowledged in time.
pub const UNAVAILABLE: &str = "unavailable";

/// Why a round stopped at a row: the error, and the metric's `reason`.
struct Failure {
    reason: &'static str,
    error: anyhow::Error,
}

impl Failure {
    fn kafka(error: KafkaError, doing: String) -> Self {
        let reason = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::InvalidRecord | RDKafkaErrorCode::MessageSizeTooLarge) => REFUSED,
            _ => UNAVAILABLE,
        };
        Self { reason, error: anyhow::Error::new(error).context(doing) }
    }

    fn unavailable(error: anyhow::Error) -> Self {
        Self { reason: UNAVAILABLE, error }
    }
}
