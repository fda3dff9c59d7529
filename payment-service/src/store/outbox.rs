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

/// The rows waiting to be published, and how long the oldest has waited.
#[derive(diesel::QueryableByName)]
pub struct Backlog {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub unsent: i64,
    /// 0 when none waits.
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub oldest_age_seconds: f64,
}

/// The backlog now. `created_at` is stamped by the column's default, in the session's time
/// zone, so the age is the database's to compute against its own `NOW(6)`.
pub async fn backlog(conn: &mut Conn) -> QueryResult<Backlog> {
    diesel::sql_query(
        "SELECT COUNT(*) AS unsent, \
                CAST(COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0) / 1000000 AS DOUBLE) \
                  AS oldest_age_seconds \
         FROM outbox WHERE sent_at IS NULL",
    )
    .get_result(conn)
    .await
}
