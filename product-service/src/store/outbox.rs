//! The outbox table: events written in the transaction of the change they describe, then read
//! and marked sent by the relay (`events/relay.rs`). Results are diesel's own, for callers to
//! convert: the service's error in a change's transaction, the relay's `anyhow`.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{db::RELAY_LEASE, schema::outbox};
use diesel::{prelude::*, result::QueryResult};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

diesel::define_sql_function! {
    /// Takes the transaction-level advisory lock `key` if it is free; never waits.
    fn pg_try_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

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
    pub id: i64,
    pub topic: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub envelope: Vec<u8>,
    pub traceparent: Option<String>,
}

pub async fn insert(conn: &mut Conn, event: NewEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::event_id.eq(event.event_id),
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

/// Takes the relay lease for the rest of the transaction; false while another replica's
/// transaction holds it (never waits).
pub async fn take_relay_lease(conn: &mut Conn) -> QueryResult<bool> {
    diesel::select(pg_try_advisory_xact_lock(RELAY_LEASE)).get_result(conn).await
}

/// The lowest `limit` unsent rows in id order, locked for the rest of the transaction.
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

/// One statement text whatever the number of rows: PostgreSQL takes the ids as one array
/// (`id = ANY($1)`), so the statement is kept prepared (`PreparedOnce`) for every relay round.
pub async fn mark_sent(conn: &mut Conn, ids: &[i64]) -> QueryResult<()> {
    let update = diesel::update(outbox::table.filter(outbox::id.eq_any(ids))).set(outbox::sent_at.eq(diesel::dsl::now));
    PreparedOnce(update).execute(conn).await?;
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

/// The backlog now. The age is the database's to compute, on its own clock at this instant
/// (`clock_timestamp()`, not the transaction's start), as it stamped `created_at`.
pub async fn backlog(conn: &mut Conn) -> QueryResult<Backlog> {
    diesel::sql_query(
        "SELECT count(*) AS unsent, \
                COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0)::float8 AS oldest_age_seconds \
         FROM outbox WHERE sent_at IS NULL",
    )
    .get_result(conn)
    .await
}
