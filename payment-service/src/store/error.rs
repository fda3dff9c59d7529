//! How the database's failures read as the service's errors: a lost connection or an empty pool
//! is unavailable (503, a retry may succeed), any other failed query unexpected (500). The one
//! place outside the queries that knows the database crate's error types.
use crate::error::PaymentError;

/// Pool errors mean the database cannot be reached (or is saturated): UNAVAILABLE, retry.
impl From<diesel_async::pooled_connection::deadpool::PoolError> for PaymentError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Unavailable(anyhow::Error::new(error).context("no database connection"))
    }
}

impl From<diesel::result::Error> for PaymentError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::Error;
        let lost = crate::db::connection_lost(&error);
        match error {
            Error::BrokenTransactionManager => {
                Self::Unavailable(anyhow::Error::new(error).context("the database connection broke"))
            }
            _ if lost => Self::Unavailable(anyhow::Error::new(error).context("the database connection broke")),
            other => Self::Unexpected(anyhow::Error::new(other).context("a database query failed")),
        }
    }
}
