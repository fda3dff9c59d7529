//! The outbox relay: publishes unsent outbox rows in id order with the idempotent producer,
//! then marks them sent. While the broker is down rows wait; nothing is lost. Rows are
//! claimed with `FOR UPDATE SKIP LOCKED`, so several replicas never publish the same batch.
use crate::{db::DbPool, schema::outbox};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection, RunQueryDsl};
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

const BATCH: i64 = 100;

#[derive(Queryable)]
struct Unsent {
    id: u64,
    topic: String,
    aggregate_id: String,
    event_type: String,
    envelope: Vec<u8>,
    traceparent: Option<String>,
}

pub struct Relay {
    pub pool: DbPool,
    pub producer: FutureProducer,
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
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = self.idle_poll;
        while !*stop.borrow() {
            let pause = match self.publish_batch().await {
                Ok(0) => self.idle_poll,
                Ok(_) => {
                    backoff = self.idle_poll;
                    continue;
                }
                Err(error) => {
                    if let Some(query) = error.downcast_ref::<diesel::result::Error>() {
                        crate::db::connection_lost(query);
                    }
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
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Publishes up to one batch; returns how many rows were published.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        let mut conn = self.pool.get().await.context("no database connection")?;
        conn.transaction::<_, anyhow::Error, _>(|conn| {
            async move {
                let rows: Vec<Unsent> = outbox::table
                    .filter(outbox::sent_at.is_null())
                    .order(outbox::id)
                    .limit(BATCH)
                    .select((
                        outbox::id,
                        outbox::topic,
                        outbox::aggregate_id,
                        outbox::event_type,
                        outbox::envelope,
                        outbox::traceparent,
                    ))
                    .for_update()
                    .skip_locked()
                    .load(conn)
                    .await?;
                let mut sent = Vec::with_capacity(rows.len());
                let mut failure = None;
                // The whole batch goes to the producer before any delivery is awaited: librdkafka
                // then sends it in as few produce requests as it can (in id order within a
                // partition: the producer is idempotent), not one round trip per row.
                let mut deliveries = Vec::with_capacity(rows.len());
                for row in &rows {
                    match self.enqueue(row) {
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
                    diesel::update(outbox::table.filter(outbox::id.eq_any(&sent)))
                        .set(outbox::sent_at.eq(Some(chrono::Utc::now().naive_utc())))
                        .execute(conn)
                        .await?;
                }
                match failure {
                    Some(error) if sent.is_empty() => Err(error),
                    _ => Ok(sent.len()),
                }
            }
            .scope_boxed()
        })
        .await
    }

    fn enqueue(&self, row: &Unsent) -> anyhow::Result<DeliveryFuture> {
        let mut headers = OwnedHeaders::new().insert(Header { key: "event_type", value: Some(&row.event_type) });
        if let Some(traceparent) = &row.traceparent {
            headers = headers.insert(Header { key: "traceparent", value: Some(traceparent) });
        }
        let record = FutureRecord::to(&row.topic).key(&row.aggregate_id).payload(&row.envelope).headers(headers);
        self.producer
            .send_result(record)
            .map_err(|(error, _)| anyhow::Error::new(error).context(format!("queueing outbox row {}", row.id)))
    }

    async fn delivered(&self, id: u64, delivery: DeliveryFuture) -> anyhow::Result<()> {
        match tokio::time::timeout(self.send_timeout, delivery).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err((error, _)))) => Err(anyhow::Error::new(error).context(format!("publishing outbox row {id}"))),
            Ok(Err(_)) => Err(anyhow::anyhow!("the producer dropped outbox row {id}")),
            Err(_) => Err(anyhow::anyhow!("outbox row {id} not acknowledged within {:?}", self.send_timeout)),
        }
    }
}
