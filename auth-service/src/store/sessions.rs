//! Login sessions (token families) and their refresh tokens.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{
    error::AuthError,
    schema::{refresh_tokens, token_families},
};
use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// Opens a session with its first refresh token, in one statement (one round trip, atomic).
pub async fn open(
    conn: &mut Conn,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), AuthError> {
    let open = diesel::sql_query(
        "WITH family AS (INSERT INTO token_families (id, user_id) VALUES ($1, $2) RETURNING id)
         INSERT INTO refresh_tokens (id, family_id, token_hash, expires_at) SELECT $3, id, $4, $5 FROM family",
    )
    .bind::<sql_types::Uuid, _>(family_id)
    .bind::<sql_types::Uuid, _>(user_id)
    .bind::<sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<sql_types::Bytea, _>(token_hash)
    .bind::<sql_types::Timestamptz, _>(expires_at);
    PreparedOnce(open).execute(conn).await?;
    Ok(())
}

pub async fn add_refresh_token(
    conn: &mut Conn,
    family_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), AuthError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7()),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A refresh token with its session, as found by its hash.
#[derive(Debug, Queryable)]
pub struct PresentedToken {
    pub id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub spent_at: Option<DateTime<Utc>>,
    pub user_id: Uuid,
    pub family_revoked_at: Option<DateTime<Utc>>,
    /// When the login opened the session: its absolute lifetime counts from here.
    pub family_created_at: DateTime<Utc>,
}

/// Finds the token and locks it, so two concurrent refreshes with one token are serialised:
/// the second sees it spent.
pub async fn find_for_update(conn: &mut Conn, token_hash: &[u8]) -> Result<Option<PresentedToken>, AuthError> {
    Ok(refresh_tokens::table
        .inner_join(token_families::table)
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            refresh_tokens::id,
            refresh_tokens::family_id,
            refresh_tokens::expires_at,
            refresh_tokens::spent_at,
            token_families::user_id,
            token_families::revoked_at,
            token_families::created_at,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

pub async fn mark_spent(conn: &mut Conn, token_id: Uuid) -> Result<(), AuthError> {
    diesel::update(refresh_tokens::table.find(token_id))
        .set(refresh_tokens::spent_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a session: every refresh token of the family and every access token carrying its
/// id stop working. Returns the session's user when this call revoked it; revoking twice keeps
/// the first reason and returns `None`.
pub async fn revoke(conn: &mut Conn, family_id: Uuid, reason: &str) -> Result<Option<Uuid>, AuthError> {
    Ok(diesel::update(token_families::table.find(family_id).filter(token_families::revoked_at.is_null()))
        .set((token_families::revoked_at.eq(diesel::dsl::now), token_families::revoked_reason.eq(reason)))
        .returning(token_families::user_id)
        .get_result(conn)
        .await
        .optional()?)
}

/// True when the session exists, belongs to `user_id` (a token's `sid` names the session of
/// its own `sub`, never another user's), is not revoked and was opened less than
/// `max_lifetime` ago.
pub async fn is_active(
    conn: &mut Conn,
    family_id: Uuid,
    user_id: Uuid,
    max_lifetime: chrono::Duration,
) -> Result<bool, AuthError> {
    let opened_after = Utc::now() - max_lifetime;
    let found: Option<Uuid> = token_families::table
        .find(family_id)
        .filter(token_families::user_id.eq(user_id))
        .filter(token_families::revoked_at.is_null())
        .filter(token_families::created_at.gt(opened_after))
        .select(token_families::id)
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}
