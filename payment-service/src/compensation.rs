//! No money is kept without a sale. A checkout's reservation (id = the payment's order_id)
//! ends exactly one way at product-service: committed (a sale), or released / expired — which
//! product announces with `ReservationReleased`. This service records each released order and
//! refunds in full every charge for it that has succeeded, or succeeds later (a charge the
//! reconciler or a webhook settles after the reservation's TTL). The refund is a pending row
//! the reconciler performs with its own idempotency key until the gateway answers, so it
//! survives crashes and outages: it does not depend on the request that charged.
//!
//! Race-free by lock order: both paths lock the payment rows first and the released-order row
//! second, in one transaction each (see `store::released::is_released`).
use crate::{
    domain::{PaymentStatus, RefundStatus},
    error::PaymentError,
    store::{
        payments::{self, PaymentRow},
        refunds::{self, RefundRow},
        released, Conn,
    },
};
use chrono::NaiveDateTime;
use uuid::Uuid;

/// The reason compensating refunds carry.
pub const REASON: &str = "reservation_released";

/// Applies a `ReservationReleased`: records the order and refunds what was charged for it.
/// Returns how many refunds it started.
pub async fn order_released(
    conn: &mut Conn,
    order_id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<usize, PaymentError> {
    let charged = payments::lock_for_order(conn, order_id).await?;
    released::insert(conn, order_id, reason, now).await?;
    let mut started = 0;
    for payment in &charged {
        if refund_rest(conn, payment, now).await? {
            started += 1;
        }
        // A PayPal payment still waiting for its buyer fails now, not at its next look-up: its
        // checkout can tell the shopper at once, and a later approval is never captured.
        if payment.status == PaymentStatus::Pending && crate::approvals::is_paypal(payment) {
            payments::due_now(conn, &payment.id, now).await?;
        }
    }
    Ok(started)
}

/// Called when a payment has just succeeded (the caller holds its row): refunds it at once if
/// its order was released meanwhile. `true` when a refund was started.
pub async fn after_success(conn: &mut Conn, payment: &PaymentRow, now: NaiveDateTime) -> Result<bool, PaymentError> {
    if !released::is_released(conn, &payment.order_id).await? {
        return Ok(false);
    }
    tracing::warn!(
        payment_id = payment.id,
        order_id = payment.order_id,
        "a charge succeeded for a checkout whose stock was released; refunding it"
    );
    refund_rest(conn, payment, now).await
}

/// Called when a charge booked declined turned out succeeded (a late success; the caller holds
/// its row). Its order's sale is another charge when the order has one that is live (a retry
/// that paid, another shopper's): then this one is refunded at once, whatever product says.
/// Otherwise it is refunded if the order was released, and may still become the sale if not.
/// `true` when a refund was started.
pub async fn after_late_success(
    conn: &mut Conn,
    payment: &PaymentRow,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let charges = payments::lock_for_order(conn, &payment.order_id).await?;
    let another_live = charges.iter().any(|other| other.id != payment.id && other.status != PaymentStatus::Failed);
    if !another_live {
        return after_success(conn, payment, now).await;
    }
    tracing::warn!(
        payment_id = payment.id,
        order_id = payment.order_id,
        "a late success for an order another charge pays for; refunding it"
    );
    refund_rest(conn, payment, now).await
}

/// Called by the sweeper for a paid order product sold for another amount (another payment's
/// sale): refunds what is left of it. `true` when a refund was started.
pub async fn refund_unsold(conn: &mut Conn, payment_id: &str, now: NaiveDateTime) -> Result<bool, PaymentError> {
    let Some(payment) = payments::lock(conn, payment_id).await? else { return Ok(false) };
    refund_rest(conn, &payment, now).await
}

/// Compensating refunds the gateway may refuse for one payment before an operator must step
/// in (the auditor's `paid-open` then names the payment).
pub const MAX_REFUSED: i64 = 3;

/// Called when a refund of the payment was refused or failed (its amount is refundable again):
/// if the payment's order was released, what is left is refunded anew — a refused
/// compensation, or a shopper's own partial refund that failed after the compensation counted
/// it, must not leave money kept for an unsold checkout. `true` when a refund was started.
pub async fn after_refund_failed(conn: &mut Conn, payment_id: &str, now: NaiveDateTime) -> Result<bool, PaymentError> {
    let Some(payment) = payments::lock(conn, payment_id).await? else { return Ok(false) };
    if !released::is_released(conn, &payment.order_id).await? {
        return Ok(false);
    }
    let refused = refunds::refused_with_reason(conn, payment_id, REASON).await?;
    if refused >= MAX_REFUSED {
        tracing::error!(
            payment_id,
            order_id = payment.order_id,
            refused,
            "the gateway keeps refusing the refund of an unsold checkout; an operator must refund it"
        );
        return Ok(false);
    }
    refund_rest(conn, &payment, now).await
}

/// Starts a refund of what is left to refund of a succeeded payment (nothing for a pending,
/// failed or fully refunded one).
async fn refund_rest(conn: &mut Conn, payment: &PaymentRow, now: NaiveDateTime) -> Result<bool, PaymentError> {
    let refundable = payment.amount_minor - payment.refunded_minor;
    let settled = payment.status.holds_money();
    if !settled || refundable <= 0 {
        return Ok(false);
    }
    payments::add_refunded(conn, &payment.id, refundable, now).await?;
    let refund = RefundRow {
        id: Uuid::now_v7().to_string(),
        payment_id: payment.id.clone(),
        amount_minor: refundable,
        currency: payment.currency.clone(),
        reason: REASON.to_owned(),
        status: RefundStatus::Pending,
        gateway_reference: None,
        created_at: now,
        requested_by: None,
    };
    // Due at once: the reconciler's next round asks the gateway.
    refunds::insert(conn, &refund, now).await?;
    // Unsold and refunded: nothing left for the sweeper to ask about.
    payments::check_sale_at(conn, &payment.id, None).await?;
    Ok(true)
}
