//! Orders whose checkout ended without a sale (their reservation was released or expired),
//! and the events of other services already applied.
use super::Conn;
use crate::{
    error::PaymentError,
    schema::{processed_events, released_orders},
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Records the order as released; `false` when it was already.
pub async fn insert(conn: &mut Conn, order_id: &str, reason: &str, now: NaiveDateTime) -> Result<bool, PaymentError> {
    let inserted = diesel::insert_or_ignore_into(released_orders::table)
        .values((
            released_orders::order_id.eq(order_id),
            released_orders::reason.eq(reason),
            released_orders::released_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Whether the order was released, as a locking read: it waits for a release of the order
/// being committed meanwhile and then sees it (sessions run READ COMMITTED), so a charge
/// settling now and the release cannot miss each other (the release locks the payment rows
/// first, and this runs while the settling transaction holds the payment's row).
pub async fn is_released(conn: &mut Conn, order_id: &str) -> Result<bool, PaymentError> {
    let found: Option<String> = released_orders::table
        .find(order_id)
        .select(released_orders::order_id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Records an event id; `true` on its first delivery.
pub async fn first_delivery(conn: &mut Conn, event_id: &str, topic: &str) -> Result<bool, PaymentError> {
    let inserted = diesel::insert_or_ignore_into(processed_events::table)
        .values((processed_events::event_id.eq(event_id), processed_events::topic.eq(topic)))
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}
