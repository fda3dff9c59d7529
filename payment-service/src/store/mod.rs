//! MariaDB queries. Functions take a connection so callers decide the transaction boundaries.
pub mod idempotency;
pub mod payments;
pub mod refunds;
pub mod released;

pub type Conn = diesel_async::AsyncMysqlConnection;
