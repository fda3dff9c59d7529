//! HTTP's view of [`CartError`]: each variant's status, headers and the JSON error body every 4xx
//! and 5xx of this service uses. Mapped exhaustively (no `_` arm), so a new variant cannot go
//! out without its status.
use crate::{error::CartError, http::views::ErrorBody};
use actix_web::{http::StatusCode, HttpResponse, ResponseError};

impl ResponseError for CartError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } | Self::TooMany { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::SessionRevoked => StatusCode::UNAUTHORIZED,
            Self::ProductNotFound(_) | Self::LineNotFound(_) | Self::CheckoutNotFound(_) => StatusCode::NOT_FOUND,
            Self::CartFull(_)
            | Self::CartEmpty
            | Self::LinesUnavailable(_)
            | Self::OutOfStock(_)
            | Self::CheckoutInProgress
            | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PaymentDeclined { .. } | Self::DeclinedBefore(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unavailable(cause) => tracing::warn!(error = format!("{cause:#}"), "dependency unavailable"),
            Self::Unexpected(cause) => tracing::error!(error = format!("{cause:#}"), "unexpected error"),
            Self::InvalidInput { .. }
            | Self::Unauthenticated
            | Self::SessionRevoked
            | Self::ProductNotFound(_)
            | Self::LineNotFound(_)
            | Self::CheckoutNotFound(_)
            | Self::CartFull(_)
            | Self::TooMany { .. }
            | Self::CartEmpty
            | Self::LinesUnavailable(_)
            | Self::OutOfStock(_)
            | Self::PaymentDeclined { .. }
            | Self::DeclinedBefore(_)
            | Self::IdempotencyKeyReused
            | Self::CheckoutInProgress
            | Self::Conflict(_) => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unavailable(_) | Self::CheckoutInProgress => {
                response.insert_header(("Retry-After", "2"));
            }
            Self::Unauthenticated | Self::SessionRevoked => {
                response.insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\""));
            }
            Self::InvalidInput { .. }
            | Self::ProductNotFound(_)
            | Self::LineNotFound(_)
            | Self::CheckoutNotFound(_)
            | Self::CartFull(_)
            | Self::TooMany { .. }
            | Self::CartEmpty
            | Self::LinesUnavailable(_)
            | Self::OutOfStock(_)
            | Self::PaymentDeclined { .. }
            | Self::DeclinedBefore(_)
            | Self::IdempotencyKeyReused
            | Self::Conflict(_)
            | Self::Unexpected(_) => {}
        }
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}
