//! Consumes `product.events.v1` for the one type that concerns money: `ReservationReleased`
//! (a checkout whose stock went back, so it will never be a sale). Its order is recorded and
//! every charge for it refunded (`compensation`). Other types of the topic's catalogue change
//! nothing here; a type the catalogue does not list is parked in the dead-letter topic.
//!
//! At-least-once: a record's offset is stored only after its effect committed, and the event
//! id is recorded with the effect, so a redelivery changes nothing. A record that can never be
//! applied goes to `<topic>.dlq` with the reason in a header, and consumption carries on; a
//! database outage is retried on the same record, so nothing is skipped.
use super::{catalogue, header_map, DLQ_CONSUMER_HEADER, DLQ_ERROR_HEADER};
use crate::{
    compensation,
    db::DbPool,
    error::PaymentError,
    kafka_producer::KafkaProducer,
    metrics::Metrics,
    proto::shop::events::v1::{Envelope, ReservationReleased},
    store::{self, released},
    telemetry,
};
use prost::Message as _;
use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::{BorrowedMessage, Header, OwnedHeaders},
    producer::FutureRecord,
    Message,
};
use scoped_futures::ScopedFutureExt;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{field::Empty, Instrument};

/// How often the consumer's assignment is read into its gauge.
const ASSIGNMENT_REPORT_INTERVAL: Duration = Duration::from_secs(1);

pub const RESERVATION_RELEASED: &str = "shop.events.v1.ReservationReleased";

pub struct ProductEventsConsumer {
    pub consumer: std::sync::Arc<StreamConsumer>,
    pub pool: DbPool,
    pub dlq_producer: KafkaProducer,
    pub metrics: Metrics,
}

enum ApplyError {
    /// Can never be applied: to the dead-letter topic.
    Poison(String),
    /// The database is down: retry the same record.
    Transient(PaymentError),
}

impl From<PaymentError> for ApplyError {
    fn from(error: PaymentError) -> Self {
        Self::Transient(error)
    }
}

impl ProductEventsConsumer {
    /// Consumes until `stop` turns true, then commits the stored offsets.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut report = tokio::time::interval(ASSIGNMENT_REPORT_INTERVAL);
        while !*stop.borrow() {
            tokio::select! {
                _ = report.tick() => self.report_assignment(),
                received = self.consumer.recv() => match received {
                    // Not cancelled by `stop`: a record in hand is applied to the end.
                    Ok(message) => self.handle(&message).await,
                    Err(error) => {
                        tracing::warn!(error = %error, "consuming product events");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
                _ = stop.changed() => {}
            }
        }
        // Stopping: the gauge no longer says this process consumes.
        self.metrics.set_assigned_partitions(0);
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %error, "committing product-events offsets at shutdown");
        }
    }

    /// The partitions held now, read from librdkafka's own state (no broker round trip).
    fn report_assignment(&self) {
        match self.consumer.assignment() {
            Ok(assignment) => self.metrics.set_assigned_partitions(assignment.count()),
            Err(error) => tracing::debug!(error = %error, "reading the consumer's assignment"),
        }
    }

    async fn handle(&self, message: &BorrowedMessage<'_>) {
        let span = tracing::info_span!("consume", topic = message.topic(), offset = message.offset(), trace_id = Empty);
        telemetry::adopt_remote_parent(&span, &header_map(message));
        async {
            let mut delay = Duration::from_millis(100);
            loop {
                match self.apply(message).await {
                    Ok(()) => break,
                    Err(ApplyError::Poison(reason)) => {
                        if let Err(error) = self.to_dead_letters(message, &reason).await {
                            tracing::warn!(error = format!("{error:#}"), "dead-letter publish failed; retrying");
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        self.metrics.dead_lettered(message.topic());
                        tracing::warn!(reason, "record sent to the dead-letter topic");
                        break;
                    }
                    Err(ApplyError::Transient(error)) => {
                        tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "applying a product event");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if let Err(error) = self.consumer.store_offset_from_message(message) {
                tracing::warn!(error = %error, "storing the consumer offset");
            }
        }
        .instrument(span)
        .await
    }

    async fn apply(&self, message: &BorrowedMessage<'_>) -> Result<(), ApplyError> {
        let envelope = Envelope::decode(message.payload().unwrap_or_default())
            .map_err(|e| ApplyError::Poison(format!("not an Envelope: {e}")))?;
        if let Some(reason) = catalogue::unlisted(message.topic(), catalogue::PRODUCT_EVENTS, &envelope.event_type) {
            return Err(ApplyError::Poison(reason));
        }
        // Only reservations concern payments; stock and catalogue events pass untouched.
        if envelope.event_type != RESERVATION_RELEASED {
            return Ok(());
        }
        if envelope.event_id.parse::<uuid::Uuid>().is_err() {
            return Err(ApplyError::Poison("event_id is not a UUID".to_owned()));
        }
        let event = ReservationReleased::decode(envelope.payload.as_slice())
            .map_err(|e| ApplyError::Poison(format!("ReservationReleased payload does not decode: {e}")))?;
        if event.reservation_id.is_empty() || event.reservation_id.len() > 255 {
            return Err(ApplyError::Poison("ReservationReleased without a usable reservation id".to_owned()));
        }
        let reason = if event.reason == "expired" { "expired" } else { "released" };
        let topic = message.topic().to_owned();
        let mut conn = self.pool.get().await.map_err(PaymentError::from)?;
        let started = store::transaction::<_, PaymentError, _>(&mut conn, |conn| {
            let (event_id, order_id) = (&envelope.event_id, &event.reservation_id);
            async move {
                if !released::first_delivery(conn, event_id, &topic).await? {
                    return Ok(0);
                }
                let now = chrono::Utc::now().naive_utc();
                compensation::order_released(conn, order_id, reason, now).await
            }
            .scope_boxed()
        })
        .await?;
        // The reconciler's next round performs the refund.
        if started > 0 {
            tracing::warn!(
                order_id = event.reservation_id,
                refunds = started,
                "a paid checkout's stock was released: its charge is being refunded"
            );
        }
        Ok(())
    }

    async fn to_dead_letters(&self, message: &BorrowedMessage<'_>, reason: &str) -> anyhow::Result<()> {
        let dlq = format!("{}.dlq", message.topic());
        let mut record = FutureRecord::to(&dlq).payload(message.payload().unwrap_or_default()).headers(
            OwnedHeaders::new()
                .insert(Header { key: DLQ_ERROR_HEADER, value: Some(reason) })
                // The topic has other consumers, which park the same record in the same
                // dead-letter topic: say whose copy this is.
                .insert(Header { key: DLQ_CONSUMER_HEADER, value: Some(crate::SERVICE_NAME) }),
        );
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        self.dlq_producer.send(record, Duration::from_secs(10)).await?;
        Ok(())
    }
}
