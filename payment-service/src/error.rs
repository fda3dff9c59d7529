//! The one error type of payment-service, mapped exhaustively (no `_` arm) to a gRPC status and
//! to an HTTP response (webhooks), so a new variant cannot be forgotten in either.
use crate::http::error_body;
use actix_web::{http::StatusCode, HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{field} {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("send the user's access token as `authorization: Bearer <token>` metadata")]
    Unauthenticated,
    #[error("a user can only see their own payments")]
    PermissionDenied,
    #[error("no such payment: {0}")]
    PaymentNotFound(String),
    #[error("this idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this idempotency key is still in progress; retry shortly")]
    RequestInProgress,
    #[error("this order was already charged with another amount; a new order needs a new order_id")]
    OrderAlreadyCharged,
    #[error("the refund exceeds what is left to refund ({refundable} minor units)")]
    RefundExceedsCharge { refundable: i64 },
    #[error("a {0} payment cannot be refunded")]
    NotRefundable(String),
    #[error("the webhook is refused: {0}")]
    WebhookRefused(&'static str),
    #[error("a dependency of payment-service is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
}

impl PaymentError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::PaymentNotFound(_) => "payment_not_found",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RequestInProgress => "request_in_progress",
            Self::OrderAlreadyCharged => "order_already_charged",
            Self::RefundExceedsCharge { .. } => "refund_exceeds_charge",
            Self::NotRefundable(_) => "payment_not_refundable",
            Self::WebhookRefused(_) => "invalid_webhook",
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

impl From<PaymentError> for tonic::Status {
    fn from(error: PaymentError) -> Self {
        error.log_if_server_side();
        let message = format!("{}: {error}", error.code());
        match error {
            PaymentError::InvalidInput { .. } | PaymentError::WebhookRefused(_) => {
                tonic::Status::invalid_argument(message)
            }
            PaymentError::Unauthenticated => tonic::Status::unauthenticated(message),
            PaymentError::PermissionDenied => tonic::Status::permission_denied(message),
            PaymentError::PaymentNotFound(_) => tonic::Status::not_found(message),
            PaymentError::IdempotencyKeyReused
            | PaymentError::OrderAlreadyCharged
            | PaymentError::RefundExceedsCharge { .. }
            | PaymentError::NotRefundable(_) => tonic::Status::failed_precondition(message),
            PaymentError::RequestInProgress => tonic::Status::aborted(message),
            PaymentError::Unavailable(_) => tonic::Status::unavailable(message),
            PaymentError::Unexpected(_) => tonic::Status::internal("internal: unexpected error"),
        }
    }
}

impl ResponseError for PaymentError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } | Self::WebhookRefused(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::PaymentNotFound(_) => StatusCode::NOT_FOUND,
            Self::IdempotencyKeyReused
            | Self::OrderAlreadyCharged
            | Self::RefundExceedsCharge { .. }
            | Self::NotRefundable(_) => StatusCode::CONFLICT,
            Self::RequestInProgress => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_if_server_side();
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unavailable(_)) {
            response.insert_header(("Retry-After", "2"));
        }
        response.json(error_body(self.code(), &self.to_string()))
    }
}

impl From<crate::auth::TokenError> for PaymentError {
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
