//! Redelivery protection for consumers: an event id is recorded in the same transaction as
//! the event's effect; a second delivery finds it and changes nothing.
use super::Conn;
use crate::{error::AuthError, schema::processed_events};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// Records the event; true on its first delivery.
pub async fn first_delivery(conn: &mut Conn, event_id: Uuid, topic: &str) -> Result<bool, AuthError> {
    let inserted = diesel::insert_into(processed_events::table)
        .values((processed_events::event_id.eq(event_id), processed_events::topic.eq(topic)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}
