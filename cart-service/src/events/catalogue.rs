//! The topic catalogue's event types (contracts/events/topics.yaml), as this build knows them. A
//! record whose `event_type` its topic does not list is not one the platform agreed on: it is
//! parked in the dead-letter topic with that reason instead of passing unseen (a producer on a
//! wrong or newer contract, or a record written by hand). tests/repo/test_contracts.py holds
//! these lists equal to the catalogue; a type is added to the catalogue, and its consumers
//! released, before any producer sends it.

/// `auth.events.v1`.
pub const AUTH_EVENTS: &[&str] = &["shop.events.v1.UserRegistered", "shop.events.v1.SessionRevoked"];

/// `product.events.v1`.
pub const PRODUCT_EVENTS: &[&str] = &[
    "shop.events.v1.ProductCreated",
    "shop.events.v1.ProductUpdated",
    "shop.events.v1.StockChanged",
    "shop.events.v1.ProductOutOfStock",
    "shop.events.v1.ProductBackInStock",
    "shop.events.v1.ReservationReleased",
];

/// `payment.events.v1`.
pub const PAYMENT_EVENTS: &[&str] =
    &["shop.events.v1.PaymentSucceeded", "shop.events.v1.PaymentFailed", "shop.events.v1.PaymentRefunded"];

/// Why a record of `topic`, whose catalogue lists `listed`, is not the platform's: `None` when
/// its type is listed.
pub fn unlisted(topic: &str, listed: &[&str], event_type: &str) -> Option<String> {
    (!listed.contains(&event_type)).then(|| format!("event_type {event_type:?} is not in the catalogue of {topic}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_type_passes_and_any_other_is_named_with_its_topic() {
        assert_eq!(unlisted("payment.events.v1", PAYMENT_EVENTS, "shop.events.v1.PaymentRefunded"), None);
        let reason = unlisted("payment.events.v1", PAYMENT_EVENTS, "shop.events.v1.StockChanged").unwrap();
        assert_eq!(reason, r#"event_type "shop.events.v1.StockChanged" is not in the catalogue of payment.events.v1"#);
        assert!(unlisted("t", AUTH_EVENTS, "").is_some(), "an empty type is no type");
    }
}
