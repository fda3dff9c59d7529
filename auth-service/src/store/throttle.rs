//! The brute-force throttle: failed logins per e-mail, in PostgreSQL so every replica sees
//! the same count.
use super::Conn;
use crate::{configuration::LoginSettings, error::AuthError, schema::login_throttle};
use chrono::Utc;
use diesel::{prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use std::time::Duration;

/// Failures older than this no longer count.
const FAILURE_WINDOW: &str = "1 hour";

#[derive(QueryableByName)]
struct Failures {
    #[diesel(sql_type = sql_types::Int4)]
    failures: i32,
}

/// Counts a failed login and, from the `max_failures`-th on, refuses logins for a delay that
/// doubles with each further failure. Returns that delay.
pub async fn record_failure(
    conn: &mut Conn,
    email_key: &str,
    policy: &LoginSettings,
) -> Result<Option<Duration>, AuthError> {
    let Failures { failures } = diesel::sql_query(format!(
        "INSERT INTO login_throttle (email_key, failures, last_failure_at) VALUES ($1, 1, now())
         ON CONFLICT (email_key) DO UPDATE SET
           failures = CASE WHEN login_throttle.last_failure_at < now() - interval '{FAILURE_WINDOW}'
                           THEN 1 ELSE login_throttle.failures + 1 END,
           last_failure_at = now()
         RETURNING failures"
    ))
    .bind::<sql_types::Text, _>(email_key)
    .get_result(conn)
    .await?;

    let over = u32::try_from(failures).unwrap_or(0).checked_sub(policy.max_failures);
    let Some(over) = over else { return Ok(None) };
    let delay = policy.lockout_base.saturating_mul(2u32.saturating_pow(over.min(30))).min(policy.lockout_max);
    let until = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    diesel::update(login_throttle::table.find(email_key))
        .set(login_throttle::locked_until.eq(until))
        .execute(conn)
        .await?;
    Ok(Some(delay))
}

pub async fn clear(conn: &mut Conn, email_key: &str) -> Result<(), AuthError> {
    diesel::delete(login_throttle::table.find(email_key)).execute(conn).await?;
    Ok(())
}
