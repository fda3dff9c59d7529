//! Kafka events: the transactional outbox and its relay.
pub mod backlog;
pub mod outbox;
pub mod producer;
pub mod relay;
pub mod stock;

/// Event type names: the payload's full protobuf name, as `Envelope.event_type` carries it.
pub mod types {
    pub const PRODUCT_CREATED: &str = "shop.events.v1.ProductCreated";
    pub const PRODUCT_UPDATED: &str = "shop.events.v1.ProductUpdated";
    pub const STOCK_CHANGED: &str = "shop.events.v1.StockChanged";
    pub const PRODUCT_OUT_OF_STOCK: &str = "shop.events.v1.ProductOutOfStock";
    pub const PRODUCT_BACK_IN_STOCK: &str = "shop.events.v1.ProductBackInStock";
    pub const RESERVATION_RELEASED: &str = "shop.events.v1.ReservationReleased";
}
