//! PostgreSQL queries. Functions take a connection so callers decide the transaction boundaries.
pub mod products;
pub mod reservations;

pub type Conn = diesel_async::AsyncPgConnection;
