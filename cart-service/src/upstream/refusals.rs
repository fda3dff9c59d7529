//! What product-service's and payment-service's refusals mean for a shopper's cart and
//! checkout, decided on each refusal's reason (`upstream::reason`), never on its message. Every
//! reason is named (no `_` arm): one that a call cannot have, or none at all (no answer, a
//! reason added later), is the other side failing — 503, and a retry resumes.
use crate::{
    error::CartError,
    proto::shop::{payment::v1::ErrorReason as PaymentReason, product::v1::ErrorReason as ProductReason},
    upstream::reason::{detail, reason},
};
use tonic::Status;
use tonic_types::StatusExt;

/// The other service failed, or refused in a way the call cannot have.
#[derive(Debug)]
pub struct Outage {
    /// What happened, for the log: the service, the status code and its message.
    pub detail: String,
    /// The request can never be accepted (a value the service refuses, a call it does not
    /// serve): repeating it cannot help.
    pub permanent: bool,
}

impl Outage {
    fn of(service: &str, status: &Status) -> Self {
        Self { detail: format!("{service}: {} {}", status.code(), status.message()), permanent: permanent(status) }
    }
}

/// To a shopper an outage is "unavailable, retry later": a retry resumes what was done.
impl From<Outage> for CartError {
    fn from(outage: Outage) -> Self {
        CartError::unavailable(anyhow::anyhow!(outage.detail))
    }
}

fn outage(service: &str, status: Status) -> CartError {
    Outage::of(service, &status).into()
}

/// Whether no repeat of the request can succeed: the service refuses a value in it, or does not
/// serve the call (an older version). By code: the statuses tonic itself sends carry no reason.
fn permanent(status: &Status) -> bool {
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange | Code::Unimplemented => true,
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::DeadlineExceeded
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::ResourceExhausted
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::Internal
        | Code::Unavailable
        | Code::DataLoss
        | Code::Unauthenticated => false,
    }
}

/// GetProduct refused, for adding `product_id` to a cart.
pub fn lookup_refused(status: Status, product_id: &str) -> CartError {
    use ProductReason as R;
    match reason::<R>(&status) {
        Some(R::ProductNotFound) => CartError::ProductNotFound(product_id.to_owned()),
        Some(R::InvalidRequest) => CartError::invalid("product_id", "is not a product id"),
        Some(
            R::Unspecified
            | R::OutOfStock
            | R::ReservationNotFound
            | R::ReservationClosed
            | R::PaymentMismatch
            | R::Unauthenticated
            | R::Forbidden
            | R::PreconditionRequired
            | R::VersionMismatch
            | R::SkuTaken
            | R::StockBelowReserved
            | R::Unavailable
            | R::Internal,
        )
        | None => outage("product-service", status),
    }
}

/// ReserveStock refused. `unavailable`: the names of the cart's lines marked unavailable, which
/// explain a refusal for stock or an unknown product best.
pub fn reserve_refused(status: Status, unavailable: &[String]) -> CartError {
    use ProductReason as R;
    match reason::<R>(&status) {
        Some(R::OutOfStock | R::ProductNotFound) if !unavailable.is_empty() => {
            CartError::LinesUnavailable(unavailable.to_vec())
        }
        Some(R::OutOfStock) => CartError::OutOfStock(
            detail(&status, "product_ids")
                .map(|ids| ids.split(',').filter(|id| !id.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
        ),
        Some(R::ProductNotFound) => CartError::Conflict("a product in the cart left the catalogue".to_owned()),
        Some(R::ReservationClosed) => CartError::reservation_expired(),
        Some(
            R::Unspecified
            | R::InvalidRequest
            | R::ReservationNotFound
            | R::PaymentMismatch
            | R::Unauthenticated
            | R::Forbidden
            | R::PreconditionRequired
            | R::VersionMismatch
            | R::SkuTaken
            | R::StockBelowReserved
            | R::Unavailable
            | R::Internal,
        )
        | None => outage("product-service", status),
    }
}

/// Charge refused: the shopper's answer, and whether the checkout's stock goes back now.
pub struct ChargeRefused {
    pub error: CartError,
    /// Nothing was charged and nothing will be for this checkout: release the stock now rather
    /// than at the reservation's expiry. Otherwise the outcome may be unknown, so it stays held
    /// and a retry resumes.
    pub release_stock: bool,
}

pub fn charge_refused(status: Status) -> ChargeRefused {
    use PaymentReason as R;
    let (error, release_stock) = match reason::<R>(&status) {
        // Payment's message names the field; it is for the shopper.
        Some(R::InvalidRequest) => (CartError::invalid("payment", status.message().to_owned()), true),
        Some(R::Unauthenticated) => (CartError::Unauthenticated, false),
        // Nothing was charged: PayPal is not offered where payment has no PayPal account.
        Some(R::PaymentMethodUnavailable) => {
            (CartError::invalid("payment_method", "\"paypal\" is not offered on this platform; pay by card"), true)
        }
        Some(R::RequestInProgress) => (CartError::CheckoutInProgress, false),
        // The key (or the order) was charged for another request: the cart changed under a key
        // whose record this service lost. Nothing new is charged.
        Some(R::IdempotencyKeyReused | R::OrderAlreadyCharged) => (CartError::IdempotencyKeyReused, false),
        // No answer (payment down, a deadline) or one Charge cannot give: the outcome is
        // unknown, so the stock stays held; a retry resumes, an abandoned checkout expires.
        Some(
            R::Unspecified
            | R::PermissionDenied
            | R::PaymentNotFound
            | R::RefundExceedsCharge
            | R::PaymentNotRefundable
            | R::InvalidWebhook
            | R::Unavailable
            | R::Internal,
        )
        | None => (outage("payment-service", status), false),
    };
    ChargeRefused { error, release_stock }
}

/// How product refused a call on a reservation (commit or release).
#[derive(Debug)]
pub enum ReservationRefused {
    /// No reservation by that id: the payment is no checkout's (a direct Charge).
    NotFound,
    /// Released, expired or sold already: it cannot change that way.
    Closed,
    /// A commit whose payment is not the reservation's total: nothing was sold; the
    /// reservation's expiry refunds the payment.
    PaymentMismatch,
    /// Not a refusal about the reservation: product failed, or gave a reason the call cannot have.
    Outage(Outage),
}

pub fn reservation_refused(status: Status) -> ReservationRefused {
    use ProductReason as R;
    // A status with no ErrorInfo at all comes from a product before reasons (cart upgraded first,
    // or product rolled back): decided by its code as before, so that the events consumer skips
    // what it always skipped instead of retrying it until product is upgraded, holding its
    // partition. Never by the message.
    if status.get_details_error_info().is_none() {
        return match status.code() {
            tonic::Code::NotFound => ReservationRefused::NotFound,
            tonic::Code::FailedPrecondition => ReservationRefused::Closed,
            _ => ReservationRefused::Outage(Outage::of("product-service", &status)),
        };
    }
    match reason::<R>(&status) {
        Some(R::ReservationNotFound) => ReservationRefused::NotFound,
        Some(R::ReservationClosed) => ReservationRefused::Closed,
        Some(R::PaymentMismatch) => ReservationRefused::PaymentMismatch,
        Some(
            R::Unspecified
            | R::InvalidRequest
            | R::ProductNotFound
            | R::OutOfStock
            | R::Unauthenticated
            | R::Forbidden
            | R::PreconditionRequired
            | R::VersionMismatch
            | R::SkuTaken
            | R::StockBelowReserved
            | R::Unavailable
            | R::Internal,
        )
        | None => ReservationRefused::Outage(Outage::of("product-service", &status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic::Code;
    use tonic_types::{ErrorDetails, StatusExt};

    fn product(code: Code, reason: &str, message: &str, metadata: &[(&str, &str)]) -> Status {
        let metadata: HashMap<String, String> =
            metadata.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, "product-service", metadata))
    }

    fn payment(code: Code, reason: &str, message: &str) -> Status {
        Status::with_error_details(
            code,
            message,
            ErrorDetails::with_error_info(reason, "payment-service", HashMap::new()),
        )
    }

    #[test]
    fn out_of_stock_is_read_from_the_reason_and_its_products_whatever_the_message() {
        for message in ["out_of_stock: not enough stock for: a", "something else entirely", ""] {
            let status = product(Code::FailedPrecondition, "OUT_OF_STOCK", message, &[("product_ids", "a,b")]);
            match reserve_refused(status, &[]) {
                CartError::OutOfStock(ids) => assert_eq!(ids, ["a", "b"]),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_message_that_says_out_of_stock_without_the_reason_is_an_outage() {
        let status = Status::failed_precondition("out_of_stock: not enough stock for: a");
        assert!(matches!(reserve_refused(status, &[]), CartError::Unavailable(_)));
    }

    #[test]
    fn a_closed_reservation_is_not_called_out_of_stock() {
        let status = product(Code::FailedPrecondition, "RESERVATION_CLOSED", "out_of_stock", &[]);
        assert!(matches!(reserve_refused(status, &[]), CartError::Conflict(_)));
    }

    #[test]
    fn unavailable_lines_explain_an_out_of_stock_refusal_best() {
        let status = product(Code::FailedPrecondition, "OUT_OF_STOCK", "", &[]);
        match reserve_refused(status, &["Mug".to_owned()]) {
            CartError::LinesUnavailable(names) => assert_eq!(names, ["Mug"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_commit_refused_for_the_amount_is_told_apart_from_a_closed_reservation_by_reason_alone() {
        let mismatch = product(Code::FailedPrecondition, "PAYMENT_MISMATCH", "reservation_closed: changed text", &[]);
        assert!(matches!(reservation_refused(mismatch), ReservationRefused::PaymentMismatch));
        let closed = product(Code::FailedPrecondition, "RESERVATION_CLOSED", "payment_mismatch: changed text", &[]);
        assert!(matches!(reservation_refused(closed), ReservationRefused::Closed));
        let missing = product(Code::NotFound, "RESERVATION_NOT_FOUND", "", &[]);
        assert!(matches!(reservation_refused(missing), ReservationRefused::NotFound));
    }

    #[test]
    fn a_refusal_from_a_product_before_reasons_is_read_by_its_code_never_its_message() {
        // What a consumer skipped before reasons it still skips: a rollback of product must not
        // hold the payment events' partitions.
        let closed = Status::failed_precondition("payment_mismatch: the payment is not the total");
        assert!(matches!(reservation_refused(closed), ReservationRefused::Closed));
        let missing = Status::not_found("reservation_not_found: no such reservation");
        assert!(matches!(reservation_refused(missing), ReservationRefused::NotFound));
        let down = Status::unavailable("product is restarting");
        assert!(matches!(reservation_refused(down), ReservationRefused::Outage(_)));
        // With an ErrorInfo of a reason this build does not know: an outage, not a guess.
        let newer = product(Code::FailedPrecondition, "ADDED_LATER", "", &[]);
        assert!(matches!(reservation_refused(newer), ReservationRefused::Outage(_)));
    }

    #[test]
    fn a_request_product_can_never_accept_is_permanent_and_an_outage_is_not() {
        // Finding 9 of "Checkout money invariants": a PaymentSucceeded whose order id product
        // refuses (over 255 bytes) was retried forever and blocked its partition.
        for refused in [
            product(Code::InvalidArgument, "INVALID_REQUEST", "reservation_id must be 1 to 255 characters", &[]),
            Status::out_of_range("x"),
            Status::unimplemented("x"),
        ] {
            match reservation_refused(refused) {
                ReservationRefused::Outage(outage) => assert!(outage.permanent, "{outage:?}"),
                other => panic!("{other:?}"),
            }
        }
        for passing in [
            Status::unavailable("down"),
            Status::deadline_exceeded("slow"),
            Status::internal("oops"),
            Status::resource_exhausted("busy"),
        ] {
            match reservation_refused(passing) {
                ReservationRefused::Outage(outage) => assert!(!outage.permanent, "{outage:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_refused_charge_releases_the_stock_only_when_nothing_can_have_been_charged() {
        let invalid = charge_refused(payment(Code::InvalidArgument, "INVALID_REQUEST", "payment_token is empty"));
        assert!(invalid.release_stock);
        assert!(matches!(invalid.error, CartError::InvalidInput { field: "payment", .. }));
        for reason in ["IDEMPOTENCY_KEY_REUSED", "ORDER_ALREADY_CHARGED"] {
            let reused = charge_refused(payment(Code::FailedPrecondition, reason, "anything"));
            assert!(!reused.release_stock);
            assert!(matches!(reused.error, CartError::IdempotencyKeyReused));
        }
        let busy = charge_refused(payment(Code::Aborted, "REQUEST_IN_PROGRESS", ""));
        assert!(matches!(busy.error, CartError::CheckoutInProgress));
        let silent = charge_refused(Status::unavailable("no replica"));
        assert!(!silent.release_stock);
        assert!(matches!(silent.error, CartError::Unavailable(_)));
    }
}
