//! Kafka events: the transactional outbox and its relay.
pub mod outbox;
pub mod relay;

/// Event type names: the payload's full protobuf name, as `Envelope.event_type` carries it.
pub mod types {
    pub const PAYMENT_SUCCEEDED: &str = "shop.events.v1.PaymentSucceeded";
    pub const PAYMENT_FAILED: &str = "shop.events.v1.PaymentFailed";
    pub const PAYMENT_REFUNDED: &str = "shop.events.v1.PaymentRefunded";
}
