//! Kafka events: the transactional outbox and its relay, and the consumer of product events.
pub mod backlog;
pub mod catalogue;
pub mod consumer;
pub mod lag;
pub mod outbox;
pub mod producer;
pub mod relay;

use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::Message;
use std::collections::HashMap;

/// The header carrying why a record was dead-lettered.
pub const DLQ_ERROR_HEADER: &str = "dlq-error";
/// The header naming the consumer that parked it.
pub const DLQ_CONSUMER_HEADER: &str = "dlq-consumer";

/// Event type names: the payload's full protobuf name, as `Envelope.event_type` carries it.
pub mod types {
    pub const PAYMENT_SUCCEEDED: &str = "shop.events.v1.PaymentSucceeded";
    pub const PAYMENT_FAILED: &str = "shop.events.v1.PaymentFailed";
    pub const PAYMENT_REFUNDED: &str = "shop.events.v1.PaymentRefunded";
}

/// A record's headers as text (the W3C trace context travels there).
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
