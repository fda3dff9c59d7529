//! The one error type of auth-service: what went wrong, in the service's terms. Its HTTP view
//! is `http/error.rs` and its gRPC view `grpc/error.rs`, each mapping every variant (no `_`
//! arm), so a new variant cannot be forgotten in either.
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{field} {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    #[error("the e-mail address or the password is wrong")]
    InvalidCredentials,
    #[error("too many attempts from this address or on this account; try again after the delay in Retry-After")]
    TooManyAttempts { retry_after: Duration },
    #[error("the body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    #[error("this needs a bearer access token")]
    MissingToken,
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; its session is now revoked")]
    RefreshTokenReused,
    #[error("this needs the admin role")]
    Forbidden,
    /// A gRPC call without a client certificate: internal calls are mutual TLS.
    #[error("internal calls need the calling service's client certificate from the platform CA (mutual TLS)")]
    NoWorkloadIdentity,
    /// A platform workload calling a method that is not its to call.
    #[error("{caller} may not call {method}")]
    WorkloadNotAllowed { caller: String, method: &'static str },
    #[error("no such user")]
    UserNotFound,
    #[error("a dependency of auth-service is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
}

impl AuthError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_request",
            Self::EmailTaken => "email_taken",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Forbidden => "forbidden",
            Self::NoWorkloadIdentity => "unauthenticated",
            Self::WorkloadNotAllowed { .. } => "forbidden",
            Self::UserNotFound => "user_not_found",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            // Whole seconds, rounded up: a client that waits this long is let in.
            Self::TooManyAttempts { retry_after } => Some(retry_after.as_millis().div_ceil(1000).max(1) as u64),
            Self::Unavailable(_) => Some(2),
            Self::InvalidInput { .. }
            | Self::EmailTaken
            | Self::InvalidCredentials
            | Self::PayloadTooLarge(_)
            | Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused
            | Self::Forbidden
            | Self::NoWorkloadIdentity
            | Self::WorkloadNotAllowed { .. }
            | Self::UserNotFound
            | Self::Unexpected(_) => None,
        }
    }

    /// Logs what went wrong on this side (a client's mistake is the client's to see).
    pub(crate) fn log_if_server_side(&self) {
        match self {
            Self::Unavailable(cause) => tracing::warn!(error = format!("{cause:#}"), "dependency unavailable"),
            Self::Unexpected(cause) => tracing::error!(error = format!("{cause:#}"), "unexpected error"),
            // A platform service calling what it must not: a misconfiguration, or a stolen
            // certificate at work.
            Self::WorkloadNotAllowed { caller, method } => {
                tracing::warn!(caller, method, "a workload was refused a gRPC method")
            }
            Self::InvalidInput { .. }
            | Self::EmailTaken
            | Self::InvalidCredentials
            | Self::TooManyAttempts { .. }
            | Self::PayloadTooLarge(_)
            | Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused
            | Self::Forbidden
            | Self::NoWorkloadIdentity
            | Self::UserNotFound => {}
        }
    }
}

impl From<crate::passwords::HashError> for AuthError {
    fn from(error: crate::passwords::HashError) -> Self {
        match error {
            crate::passwords::HashError::Saturated => {
                Self::Unavailable(anyhow::anyhow!("password hashing is saturated"))
            }
            crate::passwords::HashError::Failed(cause) => Self::Unexpected(cause),
        }
    }
}
