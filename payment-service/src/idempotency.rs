//! Idempotency keys, following Stripe's rules and the IETF Idempotency-Key draft: per user, the
//! same key with the same request replays the first result; with another request it is
//! refused (`idempotency_key_reused`); while the first is still running a duplicate is told to
//! retry (`request_in_progress`); keys live at least 24 hours.
use crate::{
    error::PaymentError,
    store::{idempotency, Conn},
};
use chrono::{Duration as ChronoDuration, NaiveDateTime};
use ring::digest::{digest, SHA256};

/// How long a key is kept after its first use.
pub const KEY_LIFETIME: ChronoDuration = ChronoDuration::hours(24);
pub const MAX_KEY_CHARS: usize = 255;

/// What a request with a key may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// The key is new (or expired): go on and create the resource.
    New,
    /// The key was used for this very request: answer with this resource as it is now.
    Replay(String),
}

pub fn validate_key(key: &str) -> Result<(), PaymentError> {
    if key.trim().is_empty() || key.chars().count() > MAX_KEY_CHARS {
        return Err(PaymentError::invalid("idempotency_key", format!("must be 1 to {MAX_KEY_CHARS} characters")));
    }
    Ok(())
}

/// SHA-256 (hex) of the operation and its canonical request, without the key.
pub fn fingerprint(operation: &str, request: &impl serde::Serialize) -> Result<String, PaymentError> {
    let body = serde_json::to_vec(request).map_err(anyhow::Error::from)?;
    let hash = digest(&SHA256, &[operation.as_bytes(), b"\n", &body].concat());
    Ok(hash.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// Claims `key` for a request with `fingerprint` that will create `resource_id`; call it in
/// the transaction that creates the resource, so that a key exists exactly when its resource
/// does. `lock_until` is when a first request still marked in progress is taken to have died.
pub async fn begin(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    resource_id: &str,
    now: NaiveDateTime,
    lock_until: NaiveDateTime,
) -> Result<Begin, PaymentError> {
    let expires_at = now + KEY_LIFETIME;
    if idempotency::insert(conn, user_id, key, fingerprint, resource_id, lock_until, expires_at).await? {
        return Ok(Begin::New);
    }
    // The key exists. Read it without locking it: duplicates only read it, and the first
    // request's completion must not wait on them.
    let Some(existing) = idempotency::find(conn, user_id, key).await? else {
        // Purged between the two statements: the caller may simply retry.
        return Err(PaymentError::RequestInProgress);
    };
    if existing.expires_at < now {
        return if idempotency::restart(conn, user_id, key, fingerprint, resource_id, lock_until, expires_at, now)
            .await?
        {
            Ok(Begin::New)
        } else {
            Err(PaymentError::RequestInProgress)
        };
    }
    if existing.fingerprint != fingerprint {
        return Err(PaymentError::IdempotencyKeyReused);
    }
    if existing.state == idempotency::IN_PROGRESS && existing.locked_until > now {
        return Err(PaymentError::RequestInProgress);
    }
    // Completed, or begun by a request that died: its resource is the answer (a payment it
    // left pending is settled by the reconciler, never charged a second time).
    Ok(Begin::Replay(existing.resource_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_requests_and_operations_apart() {
        let a = fingerprint("charge", &("order-1", 100, "EUR")).unwrap();
        assert_eq!(a, fingerprint("charge", &("order-1", 100, "EUR")).unwrap());
        assert_ne!(a, fingerprint("charge", &("order-1", 101, "EUR")).unwrap());
        assert_ne!(a, fingerprint("refund", &("order-1", 100, "EUR")).unwrap());
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn keys_must_be_1_to_255_characters() {
        assert!(validate_key("k").is_ok());
        assert!(validate_key(&"k".repeat(255)).is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("   ").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
    }
}
