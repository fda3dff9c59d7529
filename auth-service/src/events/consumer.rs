//! Consumes `payment.events.v1` into each user's order history.
//!
//! At-least-once: a record's offset is stored only after its effect committed, and the event
//! id is recorded with the effect, so a redelivery changes nothing. A record that cannot be
//! decoded goes to `<topic>.dlq` with the reason in a header, and consumption carries on. A
//! database outage is retried on the same record, so nothing is skipped.
use super::{catalogue, types, DLQ_ERROR_HEADER};
use crate::{
    db::DbPool,
    error::AuthError,
    kafka_producer::KafkaProducer,
    metrics::Metrics,
    proto::shop::events::v1::{Envelope, PaymentRefunded, PaymentSucceeded},
    store::{
        self, dedup,
        orders::{self, NewOrder},
    },
    telemetry,
};
use prost::Message as _;
use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::FutureRecord,
    Message,
};
use scoped_futures::ScopedFutureExt;
use serde_json::json;
use std::{collections::HashMap, time::Duration};
use tokio::sync::watch;
use tracing::{field::Empty, Instrument};
use uuid::Uuid;

/// How often the consumer's assignment is read into its gauge.
const ASSIGNMENT_REPORT_INTERVAL: Duration = Duration::from_secs(1);

pub struct PaymentEventsConsumer {
    pub consumer: std::sync::Arc<StreamConsumer>,
    pub pool: DbPool,
    pub dlq_producer: KafkaProducer,
    pub topic: String,
    pub metrics: Metrics,
}

/// Why a record cannot be applied, ever: it goes to the dead-letter topic.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Poison(String);

impl PaymentEventsConsumer {
    /// Consumes until `stop` turns true, then commits the stored offsets synchronously, so a
    /// restart resumes exactly after the last applied record.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut report = tokio::time::interval(ASSIGNMENT_REPORT_INTERVAL);
        while !*stop.borrow() {
            tokio::select! {
                _ = report.tick() => self.report_assignment(),
                received = self.consumer.recv() => match received {
                    // Not cancelled by `stop`: a record in hand is applied to the end.
                    Ok(message) => self.handle(&message).await,
                    Err(error) => {
                        tracing::warn!(error = %error, "consuming payment events");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
                _ = stop.changed() => {}
            }
        }
        // Stopping: the gauge no longer says this process consumes.
        self.metrics.set_assigned_partitions(0);
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("payment-events offsets committed"),
            // Nothing stored since the last commit is not a failure.
            Err(error) => tracing::debug!(error = %error, "committing payment-events offsets at shutdown"),
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
                    Err(ApplyError::Poison(poison)) => {
                        if let Err(error) = self.to_dead_letters(message, &poison.0).await {
                            tracing::warn!(error = format!("{error:#}"), "dead-letter publish failed; retrying");
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        self.metrics.dead_lettered(message.topic());
                        tracing::warn!(reason = %poison.0, "record sent to the dead-letter topic");
                        break;
                    }
                    Err(ApplyError::Transient(error)) => {
                        tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "applying a payment event");
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
            .map_err(|e| Poison(format!("not an Envelope: {e}")))?;
        if let Some(reason) = catalogue::unlisted(message.topic(), catalogue::PAYMENT_EVENTS, &envelope.event_type) {
            return Err(Poison(reason).into());
        }
        let event_id: Uuid = envelope.event_id.parse().map_err(|_| Poison("event_id is not a UUID".to_owned()))?;
        let effect = Effect::decode(&envelope)?;
        let topic = self.topic.clone();
        let mut conn = self.pool.get().await.map_err(AuthError::from)?;
        store::transaction::<_, AuthError, _>(&mut conn, |conn| {
            async move {
                if dedup::first_delivery(conn, event_id, &topic).await? {
                    effect.apply(conn).await?;
                }
                Ok(())
            }
            .scope_boxed()
        })
        .await?;
        Ok(())
    }

    async fn to_dead_letters(&self, message: &BorrowedMessage<'_>, reason: &str) -> anyhow::Result<()> {
        let dlq = format!("{}.dlq", message.topic());
        let mut record = FutureRecord::to(&dlq)
            .payload(message.payload().unwrap_or_default())
            .headers(OwnedHeaders::new().insert(Header { key: DLQ_ERROR_HEADER, value: Some(reason) }));
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        self.dlq_producer.send(record, Duration::from_secs(10)).await?;
        Ok(())
    }
}

/// What an event does to the order history.
enum Effect {
    Paid(PaymentSucceeded),
    Refunded(PaymentRefunded),
    /// Recorded (so its id is known) but changes no order: failures. (A type the catalogue does
    /// not list never gets here: it is parked in the dead-letter topic.)
    Nothing,
}

impl Effect {
    fn decode(envelope: &Envelope) -> Result<Self, Poison> {
        let bad = |e: prost::DecodeError| Poison(format!("{} payload does not decode: {e}", envelope.event_type));
        Ok(match envelope.event_type.as_str() {
            types::PAYMENT_SUCCEEDED => {
                Effect::Paid(PaymentSucceeded::decode(envelope.payload.as_slice()).map_err(bad)?)
            }
            types::PAYMENT_REFUNDED => {
                Effect::Refunded(PaymentRefunded::decode(envelope.payload.as_slice()).map_err(bad)?)
            }
            types::PAYMENT_FAILED => Effect::Nothing,
            _ => Effect::Nothing,
        })
    }

    async fn apply(self, conn: &mut crate::store::Conn) -> Result<(), AuthError> {
        match self {
            Effect::Paid(paid) => {
                let Ok(user_id) = paid.user_id.parse::<Uuid>() else {
                    tracing::warn!(payment_id = %paid.payment_id, "PaymentSucceeded without a valid user id; ignored");
                    return Ok(());
                };
                let amount = paid.amount.unwrap_or_default();
                let lines: Vec<_> = paid
                    .lines
                    .iter()
                    .map(|l| {
                        let price = l.unit_price.clone().unwrap_or_default();
                        json!({ "product_id": l.product_id, "name": l.name, "quantity": l.quantity,
                                "unit_price": { "amount_minor": price.amount_minor, "currency": price.currency } })
                    })
                    .collect();
                let paid_at = paid
                    .succeeded_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
                    .unwrap_or_else(chrono::Utc::now);
                orders::record_paid(
                    conn,
                    NewOrder {
                        payment_id: &paid.payment_id,
                        user_id,
                        order_id: &paid.order_id,
                        amount_minor: amount.amount_minor,
                        currency: &amount.currency,
                        lines: json!(lines),
                        paid_at,
                    },
                )
                .await
            }
            Effect::Refunded(refund) => {
                let total = refund.total_refunded.map(|m| m.amount_minor).unwrap_or_default();
                orders::record_refund(conn, &refund.payment_id, total).await
            }
            Effect::Nothing => Ok(()),
        }
    }
}

enum ApplyError {
    Poison(Poison),
    Transient(AuthError),
}

impl From<Poison> for ApplyError {
    fn from(poison: Poison) -> Self {
        Self::Poison(poison)
    }
}

impl From<AuthError> for ApplyError {
    fn from(error: AuthError) -> Self {
        Self::Transient(error)
    }
}

fn header_map(message: &BorrowedMessage<'_>) -> HashMap<String, String> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .filter_map(|h| Some((h.key.to_owned(), String::from_utf8(h.value?.to_vec()).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}
