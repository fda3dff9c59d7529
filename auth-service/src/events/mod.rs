//! Kafka events: the transactional outbox and its relay (publishing), and the consumer of
//! payment events (order history).
pub mod backlog;
pub mod catalogue;
pub mod consumer;
pub mod lag;
pub mod outbox;
pub mod producer;
pub mod relay;

/// Event type names: the payload's full protobuf name, as `Envelope.event_type` carries it.
pub mod types {
    pub const USER_REGISTERED: &str = "shop.events.v1.UserRegistered";
    pub const SESSION_REVOKED: &str = "shop.events.v1.SessionRevoked";
    pub const PAYMENT_SUCCEEDED: &str = "shop.events.v1.PaymentSucceeded";
    pub const PAYMENT_FAILED: &str = "shop.events.v1.PaymentFailed";
    pub const PAYMENT_REFUNDED: &str = "shop.events.v1.PaymentRefunded";
}

/// Record header naming why a record went to the dead-letter topic.
pub const DLQ_ERROR_HEADER: &str = "dlq-error";
