//! gRPC's view of [`ProductError`]: each variant's status code and its machine-readable reason,
//! a `google.rpc.ErrorInfo` named by the contract's `ErrorReason` enum (the protos list every
//! reason). Callers decide on the reason; the message is for people. Mapped exhaustively (no `_`
//! arm), so a new variant cannot go out without a reason.
use crate::{error::ProductError, proto::shop::product::v1::ErrorReason};
use std::collections::HashMap;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// ErrorInfo's domain: the service whose contract names the reasons.
pub const DOMAIN: &str = "product-service";

impl From<ProductError> for tonic::Status {
    fn from(error: ProductError) -> Self {
        error.log_if_server_side();
        let (code, reason) = code_and_reason(&error);
        let details = ErrorDetails::with_error_info(wire_name(reason), DOMAIN, metadata(&error));
        tonic::Status::with_error_details(code, format!("{}: {error}", error.code()), details)
    }
}

fn code_and_reason(error: &ProductError) -> (Code, ErrorReason) {
    match error {
        ProductError::InvalidInput { .. } => (Code::InvalidArgument, ErrorReason::InvalidRequest),
        ProductError::ProductNotFound(_) => (Code::NotFound, ErrorReason::ProductNotFound),
        ProductError::ReservationNotFound(_) => (Code::NotFound, ErrorReason::ReservationNotFound),
        ProductError::OutOfStock(_) => (Code::FailedPrecondition, ErrorReason::OutOfStock),
        ProductError::ReservationClosed(_) => (Code::FailedPrecondition, ErrorReason::ReservationClosed),
        ProductError::PaymentMismatch { .. } => (Code::FailedPrecondition, ErrorReason::PaymentMismatch),
        ProductError::PreconditionRequired => (Code::FailedPrecondition, ErrorReason::PreconditionRequired),
        ProductError::VersionMismatch { .. } => (Code::FailedPrecondition, ErrorReason::VersionMismatch),
        ProductError::StockBelowReserved { .. } => (Code::FailedPrecondition, ErrorReason::StockBelowReserved),
        ProductError::SkuTaken(_) => (Code::AlreadyExists, ErrorReason::SkuTaken),
        ProductError::Unauthenticated => (Code::Unauthenticated, ErrorReason::Unauthenticated),
        ProductError::Forbidden => (Code::PermissionDenied, ErrorReason::Forbidden),
        ProductError::NoWorkloadIdentity => (Code::Unauthenticated, ErrorReason::Unauthenticated),
        ProductError::WorkloadNotAllowed { .. } => (Code::PermissionDenied, ErrorReason::Forbidden),
        ProductError::Unavailable(_) => (Code::Unavailable, ErrorReason::Unavailable),
        ProductError::Unexpected(_) => (Code::Internal, ErrorReason::Internal),
    }
}

/// What a caller can act on besides the reason (the contract documents each key).
fn metadata(error: &ProductError) -> HashMap<String, String> {
    match error {
        ProductError::OutOfStock(product_ids) => HashMap::from([("product_ids".to_owned(), product_ids.join(","))]),
        ProductError::InvalidInput { .. }
        | ProductError::ProductNotFound(_)
        | ProductError::ReservationNotFound(_)
        | ProductError::ReservationClosed(_)
        | ProductError::PaymentMismatch { .. }
        | ProductError::PreconditionRequired
        | ProductError::VersionMismatch { .. }
        | ProductError::StockBelowReserved { .. }
        | ProductError::SkuTaken(_)
        | ProductError::Unauthenticated
        | ProductError::Forbidden
        | ProductError::NoWorkloadIdentity
        | ProductError::WorkloadNotAllowed { .. }
        | ProductError::Unavailable(_)
        | ProductError::Unexpected(_) => HashMap::new(),
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

    fn every_variant() -> Vec<ProductError> {
        vec![
            ProductError::invalid("name", "is empty"),
            ProductError::ProductNotFound("p".into()),
            ProductError::OutOfStock(vec!["a".into(), "b".into()]),
            ProductError::ReservationNotFound("r".into()),
            ProductError::ReservationClosed("expired"),
            ProductError::PaymentMismatch { paid: "1 EUR".into(), total: "2 EUR".into() },
            ProductError::Unauthenticated,
            ProductError::Forbidden,
            ProductError::NoWorkloadIdentity,
            ProductError::WorkloadNotAllowed { caller: "auth-service".into(), method: "ReserveStock" },
            ProductError::PreconditionRequired,
            ProductError::VersionMismatch { current: 3 },
            ProductError::SkuTaken("S".into()),
            ProductError::StockBelowReserved { reserved: 2 },
            ProductError::Unavailable(anyhow::anyhow!("down")),
            ProductError::Unexpected(anyhow::anyhow!("secret detail")),
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
    fn out_of_stock_names_the_short_products_and_internal_says_nothing_internal() {
        let status = tonic::Status::from(ProductError::OutOfStock(vec!["a".into(), "b".into()]));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.metadata.get("product_ids").map(String::as_str), Some("a,b"));

        let status = tonic::Status::from(ProductError::Unexpected(anyhow::anyhow!("secret detail")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"), "{}", status.message());
    }
}
