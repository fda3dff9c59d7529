//! The outbox table: events written in the transaction of the change they describe, then read
//! and marked sent by the relay (`events/relay.rs`) under its session lease (`relay_lease.rs`).
use super::Conn;
use crate::{error::PaymentError, schema::outbox};
use diesel::{prelude::*, result::QueryResult};
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

/// An event not yet published.
#[derive(Queryable)]
pub struct Unsent {
    pub id: u64,
    pub topic: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub envelope: Vec<u8>,
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

/// The lowest `limit` unsent rows in id order, locked for the rest of the transaction (a plain,
/// blocking `FOR UPDATE`: why, in `events/relay.rs`).
pub async fn unsent(conn: &mut Conn, limit: i64) -> QueryResult<Vec<Unsent>> {
    outbox::table
        .filter(outbox::sent_at.is_null())
        .order(outbox::id)
        .limit(limit)
        .select((
            outbox::id,
            outbox::topic,
            outbox::aggregate_id,
            outbox::event_type,
            outbox::envelope,
            outbox::traceparent,
        ))
        .for_update()
        .load(conn)
        .await
}

pub async fn mark_sent(conn: &mut Conn, ids: &[u64]) -> QueryResult<()> {
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set(outbox::sent_at.eq(Some(chrono::Utc::now().naive_utc())))
        .execute(conn)
        .await?;
    Ok(())
}

/// How many rows wait to be published, and when the oldest of them was written (UTC).
pub async fn backlog(conn: &mut Conn) -> QueryResult<(i64, Option<chrono::NaiveDateTime>)> {
    outbox::table
        .filter(outbox::sent_at.is_null())
        .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::created_at)))
        .get_result(conn)
        .await
}
