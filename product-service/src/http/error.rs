//! HTTP's view of [`ProductError`]: each variant's status, headers and the JSON error body every 4xx
//! and 5xx of this service uses. Mapped exhaustively (no `_` arm), so a new variant cannot go
//! out without its status.
use crate::{error::ProductError, http::views::ErrorBody};
use actix_web::{http::StatusCode, HttpResponse, ResponseError};

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
            Self::Unauthenticated | Self::NoWorkloadIdentity => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::WorkloadNotAllowed { .. } => StatusCode::FORBIDDEN,
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
            Self::InvalidInput { .. }
            | Self::ProductNotFound(_)
            | Self::OutOfStock(_)
            | Self::ReservationNotFound(_)
            | Self::ReservationClosed(_)
            | Self::PaymentMismatch { .. }
            | Self::Forbidden
            | Self::NoWorkloadIdentity
            | Self::WorkloadNotAllowed { .. }
            | Self::PreconditionRequired
            | Self::VersionMismatch { .. }
            | Self::SkuTaken(_)
            | Self::StockBelowReserved { .. }
            | Self::Unexpected(_) => {}
        }
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}
