//! Idempotency keys: one row per (user, key), holding the request's fingerprint and the
//! resource the first request created.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{error::PaymentError, schema::idempotency_keys};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub const IN_PROGRESS: &str = "in_progress";
pub const COMPLETED: &str = "completed";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct KeyRow {
    pub fingerprint: String,
    pub state: String,
    pub resource_id: String,
    pub locked_until: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Records a new key pointing at `resource_id`; `false` when the key exists already.
pub async fn insert(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    resource_id: &str,
    locked_until: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let inserted = diesel::insert_or_ignore_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::idem_key.eq(key),
            idempotency_keys::fingerprint.eq(fingerprint),
            idempotency_keys::state.eq(IN_PROGRESS),
            idempotency_keys::resource_id.eq(resource_id),
            idempotency_keys::locked_until.eq(locked_until),
            idempotency_keys::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

pub async fn find(conn: &mut Conn, user_id: &str, key: &str) -> Result<Option<KeyRow>, PaymentError> {
    Ok(idempotency_keys::table.find((user_id, key)).select(KeyRow::as_select()).first(conn).await.optional()?)
}

/// Reuses an expired key for a new request; `false` when another request did so first.
#[allow(clippy::too_many_arguments)]
pub async fn restart(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    resource_id: &str,
    locked_until: NaiveDateTime,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let update = diesel::update(
        idempotency_keys::table.find((user_id, key)).filter(idempotency_keys::expires_at.lt(now)),
    )
    .set((
        idempotency_keys::fingerprint.eq(fingerprint),
        idempotency_keys::state.eq(IN_PROGRESS),
        idempotency_keys::resource_id.eq(resource_id),
        idempotency_keys::locked_until.eq(locked_until),
        idempotency_keys::created_at.eq(now),
        idempotency_keys::expires_at.eq(expires_at),
    ));
    let restarted = PreparedOnce(update).execute(conn).await?;
    Ok(restarted == 1)
}

pub async fn complete(conn: &mut Conn, user_id: &str, key: &str) -> Result<(), PaymentError> {
    let update =
        diesel::update(idempotency_keys::table.find((user_id, key))).set(idempotency_keys::state.eq(COMPLETED));
    PreparedOnce(update).execute(conn).await?;
    Ok(())
}

/// Deletes up to `limit` keys past their expiry; returns how many.
pub async fn purge_expired(conn: &mut Conn, limit: i64) -> Result<usize, PaymentError> {
    let purge = diesel::sql_query("DELETE FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?")
        .bind::<diesel::sql_types::BigInt, _>(limit);
    Ok(PreparedOnce(purge).execute(conn).await?)
}

/// Points a key that was just claimed at an existing resource, and completes it: a retry of an
/// order already charged under another (or a purged) key replays that charge.
pub async fn point_at(conn: &mut Conn, user_id: &str, key: &str, resource_id: &str) -> Result<(), PaymentError> {
    diesel::update(idempotency_keys::table.find((user_id, key)))
        .set((idempotency_keys::resource_id.eq(resource_id), idempotency_keys::state.eq(COMPLETED)))
        .execute(conn)
        .await?;
    Ok(())
}
