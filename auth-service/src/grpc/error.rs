//! gRPC's view of [`AuthError`]: each variant's status code and its machine-readable reason,
//! a `google.rpc.ErrorInfo` named by the contract's `ErrorReason` enum (the protos list every
//! reason). Callers decide on the reason; the message is for people. Mapped exhaustively (no `_`
//! arm), so a new variant cannot go out without a reason.
use crate::{error::AuthError, proto::shop::auth::v1::ErrorReason};
use std::collections::HashMap;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// ErrorInfo's domain: the service whose contract names the reasons.
pub const DOMAIN: &str = "auth-service";

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        error.log_if_server_side();
        let (code, reason) = code_and_reason(&error);
        let details = ErrorDetails::with_error_info(wire_name(reason), DOMAIN, HashMap::new());
        tonic::Status::with_error_details(code, format!("{}: {error}", error.code()), details)
    }
}

fn code_and_reason(error: &AuthError) -> (Code, ErrorReason) {
    match error {
        AuthError::InvalidInput { .. } => (Code::InvalidArgument, ErrorReason::InvalidRequest),
        AuthError::EmailTaken => (Code::AlreadyExists, ErrorReason::EmailTaken),
        AuthError::PayloadTooLarge(_) => (Code::ResourceExhausted, ErrorReason::PayloadTooLarge),
        AuthError::InvalidCredentials => (Code::Unauthenticated, ErrorReason::InvalidCredentials),
        AuthError::MissingToken => (Code::Unauthenticated, ErrorReason::MissingToken),
        AuthError::InvalidToken => (Code::Unauthenticated, ErrorReason::InvalidToken),
        AuthError::InvalidRefreshToken => (Code::Unauthenticated, ErrorReason::InvalidRefreshToken),
        AuthError::RefreshTokenReused => (Code::Unauthenticated, ErrorReason::RefreshTokenReused),
        AuthError::TooManyAttempts { .. } => (Code::ResourceExhausted, ErrorReason::TooManyAttempts),
        AuthError::Forbidden => (Code::PermissionDenied, ErrorReason::Forbidden),
        AuthError::NoWorkloadIdentity => (Code::Unauthenticated, ErrorReason::Unauthenticated),
        AuthError::WorkloadNotAllowed { .. } => (Code::PermissionDenied, ErrorReason::Forbidden),
        AuthError::UserNotFound => (Code::NotFound, ErrorReason::UserNotFound),
        AuthError::Unavailable(_) => (Code::Unavailable, ErrorReason::Unavailable),
        AuthError::Unexpected(_) => (Code::Internal, ErrorReason::Internal),
    }
}

/// The reason as it travels: the enum value's name without its `ERROR_REASON_` prefix.
fn wire_name(reason: ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn every_variant() -> Vec<AuthError> {
        vec![
            AuthError::invalid("email", "is not an address"),
            AuthError::EmailTaken,
            AuthError::InvalidCredentials,
            AuthError::TooManyAttempts { retry_after: Duration::from_secs(3) },
            AuthError::PayloadTooLarge(10),
            AuthError::MissingToken,
            AuthError::InvalidToken,
            AuthError::InvalidRefreshToken,
            AuthError::RefreshTokenReused,
            AuthError::Forbidden,
            AuthError::NoWorkloadIdentity,
            AuthError::WorkloadNotAllowed { caller: "cart-service".into(), method: "GetUser" },
            AuthError::UserNotFound,
            AuthError::Unavailable(anyhow::anyhow!("down")),
            AuthError::Unexpected(anyhow::anyhow!("secret detail")),
        ]
    }

    #[test]
    fn every_error_carries_its_reason_which_is_the_rest_code_in_upper_case() {
        for error in every_variant() {
            let expected = error.code().to_ascii_uppercase();
            let status = tonic::Status::from(error);
            let info = status.get_details_error_info().expect("every error status carries an ErrorInfo");
            assert_eq!(info.reason, expected);
            assert_eq!(info.domain, DOMAIN);
            assert!(ErrorReason::from_str_name(&format!("ERROR_REASON_{}", info.reason)).is_some());
        }
    }

    #[test]
    fn internal_says_nothing_internal() {
        let status = tonic::Status::from(AuthError::Unexpected(anyhow::anyhow!("secret detail")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"), "{}", status.message());
    }
}
