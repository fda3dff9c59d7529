//! The brute-force throttle, in PostgreSQL so every replica sees the same counts.
//!
//! An attempt is taken — counted — before its password is hashed, one statement per key under
//! that key's row lock: a burst of concurrent guesses cannot all pass a check made before any of
//! them was counted. A key past its threshold makes the next attempt wait a delay that doubles
//! with each further attempt; a right password clears the account's keys.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{configuration::LoginSettings, error::AuthError};
use diesel::{sql_types, OptionalExtension, QueryableByName};
use diesel_async::{scoped_futures::ScopedFutureExt, RunQueryDsl};
use std::{net::IpAddr, time::Duration};

/// Attempts older than this no longer count.
const WINDOW: &str = "1 hour";
/// An address that logged in to an account this recently is its owner's: the account-wide key
/// does not refuse it.
const KNOWN_FOR: &str = "30 days";

/// One thing attempts are counted against, with the count from which it slows down.
pub struct Key {
    name: String,
    threshold: u32,
    on_success: OnSuccess,
    /// A marker row, written by a right password, that exempts this attempt from the key: the
    /// account-wide key would otherwise let anyone keep the owner out by failing from other
    /// addresses once per delay.
    waived_by: Option<String>,
}

/// What a right password does to a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnSuccess {
    /// The account's keys start afresh.
    Clear,
    /// The client's address: this attempt no longer counts, the others do (a sprayer with an
    /// account of its own must not wipe its count by logging in).
    Uncount,
}

/// The keys of a login. `client` is `None` for the `create-admin` command on this machine.
pub fn login_keys(account: &str, client: Option<IpAddr>, policy: &LoginSettings) -> Vec<Key> {
    let key = |name, threshold, on_success| Key { name, threshold, on_success, waived_by: None };
    let mut keys = vec![Key {
        waived_by: client.map(|client| format!("login-known:{account}|{}", client_key(client))),
        ..key(format!("login:{account}"), policy.account_max_failures, OnSuccess::Clear)
    }];
    if let Some(client) = client.map(client_key) {
        // Guessing one account from one address: slows the guesser without locking the owner
        // out from elsewhere, which the higher account-wide threshold would only do under a
        // guessing spread over many addresses.
        keys.insert(0, key(format!("login:{account}|{client}"), policy.max_failures, OnSuccess::Clear));
        // Password spraying: a few guesses on each of many accounts from one address.
        keys.push(key(format!("login-client:{client}"), policy.client_max_failures, OnSuccess::Uncount));
    }
    keys
}

/// The key of a sign-up: its answer tells whether an e-mail has an account, so sign-ups from
/// one address are counted, successful or not (never forgiven).
pub fn signup_key(client: IpAddr, policy: &LoginSettings) -> Key {
    Key {
        name: format!("signup-client:{}", client_key(client)),
        threshold: policy.signup_max_per_client,
        on_success: OnSuccess::Uncount,
        waived_by: None,
    }
}

/// An IPv6 client has a whole /64 to itself: counting its addresses one by one would count nothing.
fn client_key(client: IpAddr) -> String {
    match client {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = sql_types::Int4)]
    #[allow(dead_code)] // RETURNING needs a column; its presence is the answer
    failures: i32,
}

#[derive(QueryableByName)]
struct Wait {
    #[diesel(sql_type = sql_types::Int8)]
    millis: i64,
}

/// Takes one attempt on every key, all of them or none: when a key is still in its delay the
/// attempt is refused with `TooManyAttempts` and nothing is counted.
///
/// Committed asynchronously (ADR 28): a key's row is locked until its transaction commits, and a
/// client address's row is every login's from that address; waiting for the disk there would
/// queue its logins behind one another's flushes. Counts lost to a crash of PostgreSQL (those
/// of its last ~600 ms) are attempts given back.
pub async fn take(conn: &mut Conn, keys: &[Key], policy: &LoginSettings) -> Result<(), AuthError> {
    super::transaction_with_async_commit::<_, AuthError, _>(conn, |conn| {
        async move {
            for key in keys {
                if !waived(conn, key).await? {
                    take_one(conn, key, policy).await?;
                }
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

#[derive(QueryableByName)]
struct Known {
    #[diesel(sql_type = sql_types::Bool)]
    known: bool,
}

async fn waived(conn: &mut Conn, key: &Key) -> Result<bool, AuthError> {
    let Some(marker) = &key.waived_by else { return Ok(false) };
    let known = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM login_throttle
                        WHERE throttle_key = $1 AND last_failure_at > now() - interval '{KNOWN_FOR}') AS known"
    ))
    .bind::<sql_types::Text, _>(marker);
    let Known { known } = PreparedOnce(known).get_result(conn).await?;
    Ok(known)
}

async fn take_one(conn: &mut Conn, key: &Key, policy: &LoginSettings) -> Result<(), AuthError> {
    let attempts = format!(
        "CASE WHEN login_throttle.last_failure_at < now() - interval '{WINDOW}' THEN 1 ELSE login_throttle.failures + 1 END"
    );
    let delay = |attempts: &str| {
        format!(
            "CASE WHEN {attempts} >= $2 THEN now() + LEAST($3 * power(2, LEAST({attempts} - $2, 30)), $4) * interval '1 millisecond' END"
        )
    };
    // The WHERE is evaluated on the row locked by the conflict: a concurrent attempt on the
    // same key waits for this one and then sees its count and its delay.
    let take = diesel::sql_query(format!(
        "INSERT INTO login_throttle (throttle_key, failures, last_failure_at, locked_until)
         VALUES ($1, 1, now(), {first})
         ON CONFLICT (throttle_key) DO UPDATE SET
           failures = {attempts}, last_failure_at = now(), locked_until = {next}
         WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= now()
         RETURNING failures",
        first = delay("1"),
        next = delay(&attempts),
    ))
    .bind::<sql_types::Text, _>(&key.name)
    .bind::<sql_types::Int4, _>(i32::try_from(key.threshold).unwrap_or(i32::MAX))
    .bind::<sql_types::Float8, _>(policy.lockout_base.as_secs_f64() * 1000.0)
    .bind::<sql_types::Float8, _>(policy.lockout_max.as_secs_f64() * 1000.0);
    let taken: Option<Taken> = PreparedOnce(take).get_result(conn).await.optional()?;
    if taken.is_some() {
        return Ok(());
    }
    let Wait { millis } = diesel::sql_query(
        "SELECT GREATEST(CEIL(EXTRACT(EPOCH FROM (locked_until - now())) * 1000), 1)::int8 AS millis
         FROM login_throttle WHERE throttle_key = $1",
    )
    .bind::<sql_types::Text, _>(&key.name)
    .get_result(conn)
    .await?;
    Err(AuthError::TooManyAttempts { retry_after: Duration::from_millis(u64::try_from(millis).unwrap_or(1)) })
}

/// A right password: see `OnSuccess`. Runs in the caller's transaction: one commit for all the
/// keys, not one per statement (issue 18). The keys are locked in the order `take` locks them.
/// A login commits it on its own, asynchronously, as `take` (ADR 28).
pub async fn forgive(conn: &mut Conn, keys: &[Key]) -> Result<(), AuthError> {
    for key in keys {
        let sql = match key.on_success {
            OnSuccess::Clear => "DELETE FROM login_throttle WHERE throttle_key = $1",
            OnSuccess::Uncount => {
                "UPDATE login_throttle SET failures = GREATEST(failures - 1, 0) WHERE throttle_key = $1"
            }
        };
        PreparedOnce(diesel::sql_query(sql).bind::<sql_types::Text, _>(&key.name)).execute(conn).await?;
        if let Some(marker) = &key.waived_by {
            // The marker's time is in `last_failure_at`: when this address last logged in.
            let mark = diesel::sql_query(
                "INSERT INTO login_throttle (throttle_key, failures, last_failure_at) VALUES ($1, 0, now())
                 ON CONFLICT (throttle_key) DO UPDATE SET last_failure_at = now()",
            )
            .bind::<sql_types::Text, _>(marker);
            PreparedOnce(mark).execute(conn).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, client_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
