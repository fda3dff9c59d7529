//! HTTP's view of [`AuthError`]: each variant's status, headers and the JSON error body every 4xx
//! and 5xx of this service uses. Mapped exhaustively (no `_` arm), so a new variant cannot go
//! out without its status.
use crate::{error::AuthError, http::views::ErrorBody};
use actix_web::{http::StatusCode, HttpResponse, ResponseError};

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidCredentials
            | Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused
            | Self::NoWorkloadIdentity => StatusCode::UNAUTHORIZED,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden | Self::WorkloadNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::UserNotFound => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_if_server_side();
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after() {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        if matches!(self, Self::MissingToken | Self::InvalidToken) {
            response.insert_header(("WWW-Authenticate", r#"Bearer realm="shop""#));
        }
        // 5xx bodies say nothing internal; the cause is in the log.
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}
