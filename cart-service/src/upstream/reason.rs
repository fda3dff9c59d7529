//! Why product-service or payment-service refused a call, read from the `google.rpc.ErrorInfo`
//! their error statuses carry (each contract's `ErrorReason` lists the reasons). Cart decides on
//! the reason alone: a message's text is written for people and may change without notice.
use crate::proto::shop::{payment::v1::ErrorReason as PaymentReason, product::v1::ErrorReason as ProductReason};
use tonic::Status;
use tonic_types::StatusExt;

/// A contract's reasons, as they travel: the enum value's name without `ERROR_REASON_`.
pub trait Reason: Sized {
    /// ErrorInfo's domain: the service whose contract names these reasons.
    const DOMAIN: &'static str;
    fn from_str_name(name: &str) -> Option<Self>;
}

impl Reason for ProductReason {
    const DOMAIN: &'static str = "product-service";
    fn from_str_name(name: &str) -> Option<Self> {
        ProductReason::from_str_name(&format!("ERROR_REASON_{name}"))
    }
}

impl Reason for PaymentReason {
    const DOMAIN: &'static str = "payment-service";
    fn from_str_name(name: &str) -> Option<Self> {
        PaymentReason::from_str_name(&format!("ERROR_REASON_{name}"))
    }
}

/// The status's reason, when the service of `R`'s domain sent it and this build knows it.
/// `None` for a status no server sent (no connection, a deadline), another domain's, or a reason
/// added to the contract later: callers treat that as an outage, never as a known refusal.
pub fn reason<R: Reason>(status: &Status) -> Option<R> {
    let info = status.get_details_error_info()?;
    if info.domain != R::DOMAIN {
        return None;
    }
    R::from_str_name(&info.reason)
}

/// A value the ErrorInfo carries besides its reason (the contract documents each key).
pub fn detail(status: &Status, key: &str) -> Option<String> {
    status.get_details_error_info()?.metadata.get(key).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic::Code;
    use tonic_types::ErrorDetails;

    fn refused(reason: &str, domain: &str, message: &str) -> Status {
        let details = ErrorDetails::with_error_info(reason, domain, HashMap::from([("k".to_owned(), "v".to_owned())]));
        Status::with_error_details(Code::FailedPrecondition, message, details)
    }

    #[test]
    fn the_reason_is_read_whatever_the_message_says() {
        let status = refused("OUT_OF_STOCK", "product-service", "any text at all");
        assert_eq!(reason::<ProductReason>(&status), Some(ProductReason::OutOfStock));
        assert_eq!(detail(&status, "k").as_deref(), Some("v"));
    }

    #[test]
    fn a_message_alone_another_domain_or_an_unknown_reason_is_no_reason() {
        let bare = Status::failed_precondition("out_of_stock: not enough stock for: a");
        assert_eq!(reason::<ProductReason>(&bare), None);
        let other_domain = refused("OUT_OF_STOCK", "payment-service", "");
        assert_eq!(reason::<ProductReason>(&other_domain), None);
        let newer = refused("SOMETHING_ADDED_LATER", "product-service", "");
        assert_eq!(reason::<ProductReason>(&newer), None);
        let payment = refused("IDEMPOTENCY_KEY_REUSED", "payment-service", "");
        assert_eq!(reason::<PaymentReason>(&payment), Some(PaymentReason::IdempotencyKeyReused));
    }
}
