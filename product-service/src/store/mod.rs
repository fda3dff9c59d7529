//! PostgreSQL queries. Functions take a connection so callers decide the transaction boundaries,
//! with [`transaction`]: the rest of the service names no database crate.
pub mod catalogue;
pub mod outbox;
pub mod prepared_once;
pub mod products;
pub mod reservations;
pub mod seed;

mod error;

use scoped_futures::ScopedBoxFuture;

pub type Conn = diesel_async::AsyncPgConnection;

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
