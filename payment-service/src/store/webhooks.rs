//! Gateway webhook events already applied, by the gateway's event id.
use super::Conn;
use crate::{error::PaymentError, schema::processed_webhooks};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Records the event as applied; false when it was already (a redelivery changes nothing).
pub async fn first_delivery(conn: &mut Conn, event_id: &str, now: NaiveDateTime) -> Result<bool, PaymentError> {
    let inserted = diesel::insert_or_ignore_into(processed_webhooks::table)
        .values((processed_webhooks::event_id.eq(event_id), processed_webhooks::received_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}
