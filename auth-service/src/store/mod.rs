//! PostgreSQL queries, one file per table group. Functions take a connection so callers
//! decide the transaction boundaries.
pub mod orders;
pub mod sessions;
pub mod throttle;
pub mod users;

pub type Conn = diesel_async::AsyncPgConnection;
