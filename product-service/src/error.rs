//! The one error type of product-service, mapped exhaustively (no `_` arm) to an HTTP response
//! and to a gRPC status, so a new variant cannot be forgotten in either.
use crate::http::error_body;
use actix_web::{http::StatusCode, HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("{field} {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("no such product: {0}")]
    ProductNotFound(String),
    #[error("not enough stock for: {}", .0.join(", "))]
    OutOfStock(Vec<String>),
    #[error("no such reservation: {0}")]
    ReservationNotFound(String),
    #[error("the reservation is {0} and can no longer change that way")]
    ReservationClosed(&'static str),
    #[error("the payment ({paid}) is not the reservation's total ({total})")]
    PaymentMismatch { paid: String, total: String },
    #[error("sign in: send a valid access token as `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("this needs the admin role")]
    Forbidden,
    #[error("send the version you last read, as `If-Match: \"<version>\"` or `version` in the body")]
    PreconditionRequired,
    #[error("the product changed since you read it: it is at version {current}")]
    VersionMismatch { current: i64 },
    #[error("a product with sku {0:?} exists already")]
    SkuTaken(String),
    #[error("stock on hand cannot go below the {reserved} units reserved by checkouts")]
    StockBelowReserved { reserved: i64 },
    #[error("a dependency of product-service is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
}

impl ProductError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_request",
            Self::ProductNotFound(_) => "product_not_found",
            Self::OutOfStock(_) => "out_of_stock",
            Self::ReservationNotFound(_) => "reservation_not_found",
            Self::ReservationClosed(_) => "reservation_closed",
            Self::PaymentMismatch { .. } => "payment_mismatch",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::PreconditionRequired => "precondition_required",
            Self::VersionMismatch { .. } => "version_mismatch",
            Self::SkuTaken(_) => "sku_taken",
            Self::StockBelowReserved { .. } => "stock_below_reserved",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    fn log_if_server_side(&self) {
        match self {
            Self::Unavailable(cause) => tracing::warn!(error = format!("{cause:#}"), "dependency unavailable"),
            Self::Unexpected(cause) => tracing::error!(error = format!("{cause:#}"), "unexpected error"),
            _ => {}
        }
    }
}

impl ResponseError for ProductError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Self::ProductNotFound(_) | Self::ReservationNotFound(_) => StatusCode::NOT_FOUND,
            Self::OutOfStock(_)
            | Self::ReservationClosed(_)
            | Self::PaymentMismatch { .. }
            | Self::SkuTaken(_)
            | Self::StockBelowReserved { .. } => StatusCode::CONFLICT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_if_server_side();
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unavailable(_) => {
                response.insert_header(("Retry-After", "2"));
            }
            Self::Unauthenticated => {
                response.insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\""));
            }
            _ => {}
        }
        response.json(error_body(self.code(), &self.to_string()))
    }
}

impl From<ProductError> for tonic::Status {
    fn from(error: ProductError) -> Self {
        error.log_if_server_side();
        let message = format!("{}: {error}", error.code());
        match error {
            ProductError::InvalidInput { .. } => tonic::Status::invalid_argument(message),
            ProductError::ProductNotFound(_) | ProductError::ReservationNotFound(_) => {
                tonic::Status::not_found(message)
            }
            ProductError::OutOfStock(_)
            | ProductError::ReservationClosed(_)
            | ProductError::PaymentMismatch { .. }
            | ProductError::PreconditionRequired
            | ProductError::VersionMismatch { .. }
            | ProductError::StockBelowReserved { .. } => tonic::Status::failed_precondition(message),
            ProductError::SkuTaken(_) => tonic::Status::already_exists(message),
            ProductError::Unauthenticated => tonic::Status::unauthenticated(message),
            ProductError::Forbidden => tonic::Status::permission_denied(message),
            ProductError::Unavailable(_) => tonic::Status::unavailable(message),
            ProductError::Unexpected(_) => tonic::Status::internal("internal: unexpected error"),
        }
    }
}

impl From<crate::auth::TokenError> for ProductError {
    fn from(error: crate::auth::TokenError) -> Self {
        match error {
            crate::auth::TokenError::KeysUnavailable(cause) => {
                Self::Unavailable(cause.context("auth's public keys are unavailable"))
            }
            crate::auth::TokenError::SessionUnconfirmed(cause) => {
                Self::Unavailable(cause.context("auth cannot confirm the session"))
            }
            refused => {
                // Why is for the logs; the caller learns only that the token was refused.
                tracing::info!(reason = %refused, "access token refused");
                Self::Unauthenticated
            }
        }
    }
}

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
