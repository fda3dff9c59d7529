//! HTTP's view of [`PaymentError`]: each variant's status, headers and the JSON error body every 4xx
//! and 5xx of this service uses. Mapped exhaustively (no `_` arm), so a new variant cannot go
//! out without its status.
use crate::{error::PaymentError, http::views::ErrorBody};
use actix_web::{http::StatusCode, HttpResponse, ResponseError};

impl ResponseError for PaymentError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } | Self::WebhookRefused(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::NoWorkloadIdentity => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied | Self::NotAnOperator | Self::WorkloadNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::PaymentNotFound(_) => StatusCode::NOT_FOUND,
            Self::IdempotencyKeyReused
            | Self::OrderAlreadyCharged
            | Self::RefundExceedsCharge { .. }
            | Self::NotRefundable(_)
            | Self::PaymentMethodUnavailable(_) => StatusCode::CONFLICT,
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
        if matches!(self, Self::Unauthenticated) {
            response.insert_header(("WWW-Authenticate", r#"Bearer realm="shop""#));
        }
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}
