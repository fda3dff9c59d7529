//! The outbox relay's lease: a MariaDB named lock held by one session at a time, so that one
//! replica publishes the outbox (why, in `events/relay.rs`). The lease belongs to the session,
//! not to a transaction, so it wraps the pooled connection itself.
use super::prepared_once::PreparedOnce;
use crate::db::DbPool;
use anyhow::Context;
use diesel::sql_types::{BigInt, Nullable};
use diesel::QueryableByName;
use diesel_async::{pooled_connection::deadpool::Object, AsyncMysqlConnection, RunQueryDsl};

/// The relay lease, named after the database (`GET_LOCK` names are the server's); MySQL takes
/// names of up to 64 characters. The answers are 1 (taken, freed), 0 (held by another session
/// or not by this one) or NULL (an error, or no such lock).
const TAKE_LEASE: &str = "SELECT CAST(GET_LOCK(LEFT(CONCAT(DATABASE(), '.outbox_relay'), 64), 0) AS SIGNED) AS answer";
const FREE_LEASE: &str = "SELECT CAST(RELEASE_LOCK(LEFT(CONCAT(DATABASE(), '.outbox_relay'), 64)) AS SIGNED) AS answer";

#[derive(QueryableByName)]
struct LockAnswer {
    #[diesel(sql_type = Nullable<BigInt>)]
    answer: Option<i64>,
}

/// A pooled connection whose session holds the relay lease. Dropped without `free`, it leaves
/// the pool rather than going back to it still holding the lease.
pub struct Lease(Option<Object<AsyncMysqlConnection>>);

impl Lease {
    /// Takes the lease on the session of a connection from `pool`; `None` (and the connection
    /// goes back to the pool) when another session holds it.
    pub async fn take(pool: &DbPool) -> anyhow::Result<Option<Self>> {
        let conn = pool.get().await.context("no database connection")?;
        let mut lease = Self(Some(conn));
        let taken: LockAnswer = PreparedOnce(diesel::sql_query(TAKE_LEASE))
            .get_result(lease.conn()?)
            .await
            .context("taking the relay lease")?;
        match taken.answer {
            Some(1) => Ok(Some(lease)),
            Some(_) => {
                drop(lease.0.take());
                Ok(None)
            }
            None => Err(anyhow::anyhow!("GET_LOCK failed taking the relay lease")),
        }
    }

    pub fn conn(&mut self) -> anyhow::Result<&mut AsyncMysqlConnection> {
        self.0.as_deref_mut().context("the relay lease has no connection")
    }

    /// Frees the lease; the connection goes back to the pool.
    pub async fn free(mut self) -> anyhow::Result<()> {
        let freed: LockAnswer = PreparedOnce(diesel::sql_query(FREE_LEASE))
            .get_result(self.conn()?)
            .await
            .context("freeing the relay lease")?;
        if freed.answer != Some(1) {
            anyhow::bail!("RELEASE_LOCK answered {:?} freeing the relay lease", freed.answer);
        }
        drop(self.0.take());
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Out of the pool, then dropped: the session closes and the server frees the lease.
            drop(Object::take(conn));
        }
    }
}
