//! How the database's failures read as the service's errors: a lost connection or an empty pool
//! is unavailable (503, a retry may succeed), any other failed query unexpected (500). The one
//! place outside the queries that knows the database crate's error types.
use crate::error::ProductError;

/// Pool errors mean the database cannot be reached (or is saturated): 503, retry.
impl From<diesel_async::pooled_connection::deadpool::PoolError> for ProductError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Unavailable(anyhow::Error::new(error).context("no database connection"))
    }
}

impl From<diesel::result::Error> for ProductError {
    fn from(error: diesel::result::Error) -> Self {
        if connection_lost(&error) {
            Self::Unavailable(anyhow::Error::new(error).context("the database connection broke"))
        } else {
            Self::Unexpected(anyhow::Error::new(error).context("a database query failed"))
        }
    }
}

/// Whether a query failed because the database went away (so a retry may succeed: 503), not
/// because of the query. tokio-postgres reports a lost connection without an SQLSTATE (diesel:
/// `UnableToSendCommand`); a server shutting down or restarting ends sessions with a message.
fn connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::BrokenTransactionManager => true,
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.starts_with("terminating connection") || message.starts_with("the database system is")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn a_database_that_went_away_is_unavailable_and_a_bad_query_is_not() {
        let lost = [
            Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, Box::new("connection closed".to_owned())),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("closed".to_owned())),
            Error::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("terminating connection due to administrator command".to_owned()),
            ),
            Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("the database system is starting up".to_owned())),
            Error::BrokenTransactionManager,
        ];
        for error in lost {
            assert!(matches!(ProductError::from(error), ProductError::Unavailable(_)));
        }
        let bad = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new("syntax error at or near".to_owned()));
        assert!(matches!(ProductError::from(bad), ProductError::Unexpected(_)));
    }
}
