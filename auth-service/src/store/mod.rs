//! PostgreSQL queries, one file per table group. Functions take a connection so callers
//! decide the transaction boundaries, with [`transaction`]: the rest of the service names no
//! database crate.
pub mod dedup;
pub mod orders;
pub mod outbox;
pub mod prepared_once;
pub mod sessions;
pub mod throttle;
pub mod users;

mod error;

use scoped_futures::ScopedBoxFuture;

pub type Conn = diesel_async::AsyncPgConnection;
/// A connection taken from the pool; back in the pool when dropped.
pub type Pooled = diesel_async::pooled_connection::deadpool::Object<Conn>;

/// Runs `work` in one transaction on `conn`: committed when it returns `Ok`, rolled back when it
/// returns `Err` (its own error, or a failed query's converted). `work` returns its future
/// `.scope_boxed()` (scoped_futures::ScopedFutureExt), so it may borrow from the caller.
pub async fn transaction<'a, T, E, F>(conn: &mut Conn, work: F) -> Result<T, E>
where
    F: for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'a, 'r, Result<T, E>> + Send + 'a,
    T: Send + 'a,
    E: From<diesel::result::Error> + Send + 'a,
{
    use diesel_async::AsyncConnection;
    conn.transaction(work).await
}

/// [`transaction`] whose commit does not wait for its WAL to reach the disk (PostgreSQL's
/// asynchronous commit, for this transaction only: `SET LOCAL` ends with it, committed or not).
/// It is visible to every other transaction as soon as it commits, as any commit is; a crash of
/// PostgreSQL within some 600 ms (three `wal_writer_delay`s) of the commit may lose it, never
/// part of it, and never without losing what committed after it having seen it. Only for work
/// whose loss costs nothing a crash does not: a login's throttle counts (ADR 28). Not for a
/// session (its tokens are verified offline), a revocation, an account or an event.
///
/// Refused inside another transaction, where it would be a savepoint and its `SET LOCAL` would
/// last until the outer transaction's commit.
pub async fn transaction_with_async_commit<'a, T, E, F>(conn: &mut Conn, work: F) -> Result<T, E>
where
    F: for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'a, 'r, Result<T, E>> + Send + 'a,
    T: Send + 'a,
    E: From<diesel::result::Error> + Send + 'a,
{
    use diesel_async::{
        scoped_futures::ScopedFutureExt, AnsiTransactionManager, AsyncConnection, SimpleAsyncConnection,
        TransactionManager,
    };
    let status = <AnsiTransactionManager as TransactionManager<Conn>>::transaction_manager_status_mut(conn);
    if status.transaction_depth()?.is_some() {
        return Err(diesel::result::Error::AlreadyInTransaction.into());
    }
    conn.transaction(|conn| {
        async move {
            conn.batch_execute("SET LOCAL synchronous_commit = off").await?;
            work(conn).await
        }
        .scope_boxed()
    })
    .await
}
