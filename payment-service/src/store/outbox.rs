//! The outbox table's writes: an event in the transaction of the change it describes (the relay,
//! `events/relay.rs`, reads and marks rows under its session lease).
use super::Conn;
use crate::{error::PaymentError, schema::outbox};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// An event as its change's transaction writes it.
pub struct NewEvent<'a> {
    pub event_id: Uuid,
    pub topic: &'a str,
    pub aggregate_id: &'a str,
    pub event_type: &'a str,
    /// The encoded `Envelope`.
    pub envelope: Vec<u8>,
    /// The W3C trace context of the change, continued by the consumers.
    pub traceparent: Option<String>,
}

pub async fn insert(conn: &mut Conn, event: NewEvent<'_>) -> Result<(), PaymentError> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::event_id.eq(event.event_id.to_string()),
            outbox::topic.eq(event.topic),
            outbox::aggregate_id.eq(event.aggregate_id),
            outbox::event_type.eq(event.event_type),
            outbox::envelope.eq(event.envelope),
            outbox::traceparent.eq(event.traceparent),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
