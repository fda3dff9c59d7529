//! Sessions auth has revoked (logout, a reused refresh token), so that their access tokens are
//! refused here before they expire although tokens are verified without asking auth.
//!
//! auth publishes `SessionRevoked` on `auth.events.v1`; whichever replica consumes it adds the
//! session to a Redis sorted set scored by the time the session's last access token expires.
//! Every replica reads the set's live part into memory each second, so checking a request
//! costs a hash look-up, not a Redis round trip; a revocation reaches every replica within
//! about a second of the event.
use crate::redis_store::Redis;
use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::sync::watch;

const REVOKED_KEY: &str = "cart:revoked-sessions";
/// How often each replica re-reads the revoked sessions.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub struct Revocations {
    redis: Redis,
    /// Session id → when its tokens have all expired (seconds since the epoch).
    revoked: RwLock<HashMap<String, u64>>,
}

impl Revocations {
    pub fn new(redis: Redis) -> Self {
        Self { redis, revoked: RwLock::new(HashMap::new()) }
    }

    pub fn is_revoked(&self, session_id: &str) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        revoked.get(session_id).is_some_and(|until| *until > now_secs())
    }

    /// Records a revoked session for every replica, and for this one at once. Sessions whose
    /// tokens have all expired are dropped from the set on the way.
    pub async fn record(&self, session_id: &str, tokens_expire_at: u64) -> anyhow::Result<()> {
        let mut conn = self.redis.connection().await?;
        let _: () = redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(REVOKED_KEY)
            .arg(tokens_expire_at)
            .arg(session_id)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(REVOKED_KEY)
            .arg("-inf")
            .arg(now_secs())
            .ignore()
            .query_async(&mut conn)
            .await?;
        self.revoked
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(session_id.to_owned(), tokens_expire_at);
        Ok(())
    }

    /// Replaces the in-memory set with the sessions whose tokens may still be alive.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let mut conn = self.redis.connection().await?;
        let live: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(REVOKED_KEY)
            .arg(now_secs())
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        *self.revoked.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = live.into_iter().collect();
        Ok(())
    }

    /// Refreshes every `REFRESH_EVERY` until `stop`; a failed read keeps the last set (Redis
    /// down makes the cart routes 503 anyway).
    pub async fn keep_fresh(&self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(error) = self.refresh().await {
                        tracing::debug!(error = format!("{error:#}"), "reading revoked sessions");
                    }
                }
                _ = stop.changed() => {}
            }
        }
    }
}
