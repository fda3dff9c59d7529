//! Consumes `product.events.v1`, `payment.events.v1` and `auth.events.v1` into the carts.
//!
//! - `ProductOutOfStock` / `ProductBackInStock`: the line's availability, in every cart holding
//!   the product; `ProductUpdated`: the line's name and price (and unavailable once the product
//!   is no longer sold). Versions make a stale or replayed event change nothing.
//! - `PaymentSucceeded`: commits the checkout's reservation and takes its quantities out of the
//!   cart, if the checkout itself had not (a checkout answered 202 while the payment was
//!   pending). A reservation already released or expired is left alone, and so is the cart:
//!   payment-service refunds that charge (it consumes product's `ReservationReleased`).
//! - `PaymentFailed`: releases the checkout's reservation at once, instead of at its expiry
//!   (the checkout itself may have died before it could).
//! - `SessionRevoked`: the session's access tokens are refused from then on (see
//!   `auth::Revocations`).
//!
//! At-least-once: a record's offset is stored after its effect is applied, and its event id is
//! remembered for a week so a redelivery is skipped (the other types of the catalogue change no
//! cart, and are neither applied nor remembered). A record that cannot be decoded, or whose
//! type its topic's catalogue does not list (`catalogue`), goes to `<topic>.dlq` with the reason
//! in a header and consumption carries on, and so does one that product refuses for good (an id
//! it cannot take); Redis or product being down is retried on the same record, so nothing is
//! skipped.
pub mod catalogue;
pub mod lag;

use crate::{
    auth::Revocations,
    checkout::sale,
    error::CartError,
    kafka_producer::KafkaProducer,
    metrics::Metrics,
    proto::shop::{
        events::v1::{
            Envelope, PaymentFailed, PaymentSucceeded, ProductBackInStock, ProductOutOfStock, ProductUpdated,
            SessionRevoked,
        },
        product::v1::ReleaseReservationRequest,
    },
    store::{CartStore, Snapshot},
    telemetry,
    upstream::{
        refusals::{reservation_refused, Outage, ReservationRefused},
        Upstream,
    },
};
use prost::Message as _;
use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::FutureRecord,
    Message,
};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::watch;
use tracing::{field::Empty, Instrument};

/// The header carrying why a record was dead-lettered.
pub const DLQ_ERROR_HEADER: &str = "dlq-error";
const SEEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the consumer's assignment is read into its gauge.
const ASSIGNMENT_REPORT_INTERVAL: Duration = Duration::from_secs(1);

pub struct EventsConsumer {
    pub consumer: Arc<StreamConsumer>,
    /// Each consumed topic (by its configured name) with the event types its catalogue lists.
    pub catalogues: Vec<(String, &'static [&'static str])>,
    pub store: CartStore,
    pub upstream: Upstream,
    pub revocations: Arc<Revocations>,
    pub dlq_producer: KafkaProducer,
    pub metrics: Metrics,
}

#[derive(Debug)]
enum ApplyError {
    /// Can never be applied: to the dead-letter topic.
    Poison(String),
    /// A dependency is down: retry the same record.
    Transient(CartError),
}

impl From<CartError> for ApplyError {
    fn from(error: CartError) -> Self {
        Self::Transient(error)
    }
}

impl EventsConsumer {
    /// Consumes until `stop` turns true, then commits the stored offsets.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut report = tokio::time::interval(ASSIGNMENT_REPORT_INTERVAL);
        while !*stop.borrow() {
            tokio::select! {
                _ = report.tick() => self.report_assignment(),
                received = self.consumer.recv() => match received {
                    Ok(message) => self.handle(&message).await,
                    Err(error) => {
                        tracing::warn!(error = %error, "consuming events");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
                _ = stop.changed() => {}
            }
        }
        // Stopping: the gauge no longer says this process consumes.
        self.metrics.set_assigned_partitions(0);
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %error, "committing offsets at shutdown");
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
                        tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "applying an event");
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
        let listed = self.catalogues.iter().find(|(topic, _)| topic == message.topic()).map_or(&[][..], |(_, l)| *l);
        if let Some(reason) = catalogue::unlisted(message.topic(), listed, &envelope.event_type) {
            return Err(ApplyError::Poison(reason));
        }
        if envelope.event_id.is_empty() || envelope.event_id.len() > 64 {
            return Err(ApplyError::Poison("the envelope has no usable event_id".to_owned()));
        }
        let bad =
            |e: prost::DecodeError| ApplyError::Poison(format!("{} payload does not decode: {e}", envelope.event_type));
        let payload = envelope.payload.as_slice();
        let change = match envelope.event_type.as_str() {
            "shop.events.v1.ProductOutOfStock" => {
                let event = ProductOutOfStock::decode(payload).map_err(bad)?;
                Change::Mark {
                    product_id: event.product_id,
                    available: Some(false),
                    snapshot: None,
                    version: event.version,
                }
            }
            "shop.events.v1.ProductBackInStock" => {
                let event = ProductBackInStock::decode(payload).map_err(bad)?;
                Change::Mark {
                    product_id: event.product_id,
                    available: Some(true),
                    snapshot: None,
                    version: event.version,
                }
            }
            "shop.events.v1.ProductUpdated" => {
                let event = ProductUpdated::decode(payload).map_err(bad)?;
                let snapshot = Snapshot {
                    product_id: event.product_id.clone(),
                    name: event.name,
                    unit_price: event.price.unwrap_or_default(),
                    available: event.active,
                    version: event.version,
                };
                let available = (!event.active).then_some(false);
                Change::Mark {
                    product_id: event.product_id,
                    available,
                    snapshot: Some(snapshot),
                    version: event.version,
                }
            }
            "shop.events.v1.PaymentSucceeded" => Change::Paid(PaymentSucceeded::decode(payload).map_err(bad)?),
            "shop.events.v1.PaymentFailed" => Change::Failed(PaymentFailed::decode(payload).map_err(bad)?),
            "shop.events.v1.SessionRevoked" => {
                let event = SessionRevoked::decode(payload).map_err(bad)?;
                let expire = event.tokens_expire_at.map(|t| t.seconds).unwrap_or_default();
                if event.session_id.is_empty() || expire <= 0 {
                    return Err(ApplyError::Poison("SessionRevoked without a session or an expiry".to_owned()));
                }
                Change::Revoked { session_id: event.session_id, expire: expire as u64 }
            }
            // The catalogue's other types (stock counts, refunds, ...) change no cart: nothing to
            // apply, so nothing to remember having applied (two Redis commands a checkout saved:
            // product announces each reservation and each sale).
            _ => return Ok(()),
        };
        let seen_key = format!("cart:event:{}", envelope.event_id);
        if self.store.get(&seen_key).await?.is_some() {
            return Ok(());
        }
        match change {
            Change::Mark { product_id, available, snapshot, version } => {
                self.store.mark(&product_id, available, snapshot.as_ref(), version).await?;
            }
            Change::Paid(event) => self.paid(&event).await?,
            Change::Failed(event) => self.failed(&event).await?,
            Change::Revoked { session_id, expire } => {
                self.revocations.record(&session_id, expire).await.map_err(CartError::unavailable)?;
            }
        }
        self.store.put(&seen_key, "1", SEEN_TTL).await?;
        Ok(())
    }

    async fn paid(&self, event: &PaymentSucceeded) -> Result<(), ApplyError> {
        // Settled already: by the checkout itself, nearly always, which answered the shopper
        // with the sale. The mark is set for a sale only (`checkout::sale`), so neither the
        // commit nor the cart is left to do (a CommitReservation saved, over mutual TLS, and
        // product's transaction for it).
        if self.store.is_settled(&event.order_id).await? {
            return Ok(());
        }
        // Product sells only when the payment took exactly the reservation's total.
        let sale = match sale::commit(&self.upstream, &event.order_id, event.amount.clone()).await {
            Ok(sale) => sale,
            // A payment that is no checkout's (a direct Charge): nothing to sell, no cart.
            Err(ReservationRefused::NotFound) => {
                tracing::debug!(order_id = event.order_id, "a payment without a reservation; no cart to settle");
                return Ok(());
            }
            // Released or expired before the money came, or paid with another amount: no
            // sale, the cart stays as it is, and payment-service refunds the charge (it has
            // product's ReservationReleased once the reservation ends).
            Err(ReservationRefused::Closed | ReservationRefused::PaymentMismatch) => {
                tracing::warn!(order_id = event.order_id, payment_id = event.payment_id,
                    "a paid checkout was not sold (stock released first, or another amount); payment-service refunds it");
                return Ok(());
            }
            Err(ReservationRefused::Outage(outage)) => return Err(outage.into()),
        };
        let bought: Vec<(String, i64)> = event.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
        Ok(sale.settle_cart(&self.store, &event.user_id, &bought).await?)
    }

    /// A declined checkout's stock goes back now rather than at its reservation's expiry.
    async fn failed(&self, event: &PaymentFailed) -> Result<(), ApplyError> {
        let request = ReleaseReservationRequest { reservation_id: event.order_id.clone() };
        match self.upstream.product.send(&request, |mut c, r| async move { c.release_reservation(r).await }).await {
            Ok(_) => Ok(()),
            // No checkout's, or committed (a later charge of the order paid: nothing to give
            // back) — nothing to do either way.
            Err(status) => match reservation_refused(status) {
                ReservationRefused::NotFound | ReservationRefused::Closed | ReservationRefused::PaymentMismatch => {
                    Ok(())
                }
                ReservationRefused::Outage(outage) => Err(outage.into()),
            },
        }
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

/// What an event does to the carts, decoded before its redelivery check.
enum Change {
    Mark { product_id: String, available: Option<bool>, snapshot: Option<Snapshot>, version: i64 },
    Paid(PaymentSucceeded),
    Failed(PaymentFailed),
    Revoked { session_id: String, expire: u64 },
}

/// What product's failure means for the record: a request it can never accept (the event names
/// an id product refuses) is poison — to the dead-letter topic, so it cannot block its
/// partition — while an outage or overload is retried on the same record.
impl From<Outage> for ApplyError {
    fn from(outage: Outage) -> Self {
        if outage.permanent {
            ApplyError::Poison(format!("refused for good by {}", outage.detail))
        } else {
            ApplyError::Transient(outage.into())
        }
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
