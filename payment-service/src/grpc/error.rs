//! gRPC's view of [`PaymentError`]: each variant's status code and its machine-readable reason,
//! a `google.rpc.ErrorInfo` named by the contract's `ErrorReason` enum (the protos list every
//! reason). Callers decide on the reason; the message is for people. Mapped exhaustively (no `_`
//! arm), so a new variant cannot go out without a reason.
use crate::{error::PaymentError, proto::shop::payment::v1::ErrorReason};
use std::collections::HashMap;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// ErrorInfo's domain: the service whose contract names the reasons.
pub const DOMAIN: &str = "payment-service";

impl From<PaymentError> for tonic::Status {
    fn from(error: PaymentError) -> Self {
        error.log_if_server_side();
        let (code, reason) = code_and_reason(&error);
        let details = ErrorDetails::with_error_info(wire_name(reason), DOMAIN, metadata(&error));
        tonic::Status::with_error_details(code, format!("{}: {error}", error.code()), details)
    }
}

fn code_and_reason(error: &PaymentError) -> (Code, ErrorReason) {
    match error {
        PaymentError::InvalidInput { .. } => (Code::InvalidArgument, ErrorReason::InvalidRequest),
        PaymentError::WebhookRefused(_) => (Code::InvalidArgument, ErrorReason::InvalidWebhook),
        PaymentError::Unauthenticated => (Code::Unauthenticated, ErrorReason::Unauthenticated),
        PaymentError::PermissionDenied => (Code::PermissionDenied, ErrorReason::PermissionDenied),
        PaymentError::NotAnOperator => (Code::PermissionDenied, ErrorReason::PermissionDenied),
        PaymentError::NoWorkloadIdentity => (Code::Unauthenticated, ErrorReason::Unauthenticated),
        PaymentError::WorkloadNotAllowed { .. } => (Code::PermissionDenied, ErrorReason::PermissionDenied),
        PaymentError::PaymentNotFound(_) => (Code::NotFound, ErrorReason::PaymentNotFound),
        PaymentError::IdempotencyKeyReused => (Code::FailedPrecondition, ErrorReason::IdempotencyKeyReused),
        PaymentError::OrderAlreadyCharged => (Code::FailedPrecondition, ErrorReason::OrderAlreadyCharged),
        PaymentError::RefundExceedsCharge { .. } => (Code::FailedPrecondition, ErrorReason::RefundExceedsCharge),
        PaymentError::NotRefundable(_) => (Code::FailedPrecondition, ErrorReason::PaymentNotRefundable),
        PaymentError::PaymentMethodUnavailable(_) => (Code::FailedPrecondition, ErrorReason::PaymentMethodUnavailable),
        PaymentError::RequestInProgress => (Code::Aborted, ErrorReason::RequestInProgress),
        PaymentError::Unavailable(_) => (Code::Unavailable, ErrorReason::Unavailable),
        PaymentError::Unexpected(_) => (Code::Internal, ErrorReason::Internal),
    }
}

/// What a caller can act on besides the reason (the contract documents each key).
fn metadata(error: &PaymentError) -> HashMap<String, String> {
    match error {
        PaymentError::RefundExceedsCharge { refundable } => {
            HashMap::from([("refundable_minor".to_owned(), refundable.to_string())])
        }
        PaymentError::InvalidInput { .. }
        | PaymentError::WebhookRefused(_)
        | PaymentError::Unauthenticated
        | PaymentError::PermissionDenied
        | PaymentError::NotAnOperator
        | PaymentError::NoWorkloadIdentity
        | PaymentError::WorkloadNotAllowed { .. }
        | PaymentError::PaymentNotFound(_)
        | PaymentError::IdempotencyKeyReused
        | PaymentError::OrderAlreadyCharged
        | PaymentError::NotRefundable(_)
        | PaymentError::PaymentMethodUnavailable(_)
        | PaymentError::RequestInProgress
        | PaymentError::Unavailable(_)
        | PaymentError::Unexpected(_) => HashMap::new(),
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

    fn every_variant() -> Vec<PaymentError> {
        vec![
            PaymentError::invalid("amount", "must be positive"),
            PaymentError::Unauthenticated,
            PaymentError::PermissionDenied,
            PaymentError::NotAnOperator,
            PaymentError::NoWorkloadIdentity,
            PaymentError::WorkloadNotAllowed { caller: "auth-service".into(), method: "Refund" },
            PaymentError::PaymentNotFound("p".into()),
            PaymentError::IdempotencyKeyReused,
            PaymentError::RequestInProgress,
            PaymentError::OrderAlreadyCharged,
            PaymentError::RefundExceedsCharge { refundable: 250 },
            PaymentError::NotRefundable(crate::domain::PaymentStatus::Failed),
            PaymentError::WebhookRefused("bad signature"),
            PaymentError::PaymentMethodUnavailable("PayPal"),
            PaymentError::Unavailable(anyhow::anyhow!("down")),
            PaymentError::Unexpected(anyhow::anyhow!("secret detail")),
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
    fn a_refund_too_large_says_what_is_left_and_internal_says_nothing_internal() {
        let status = tonic::Status::from(PaymentError::RefundExceedsCharge { refundable: 250 });
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.metadata.get("refundable_minor").map(String::as_str), Some("250"));

        let status = tonic::Status::from(PaymentError::Unexpected(anyhow::anyhow!("secret detail")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"), "{}", status.message());
    }
}
