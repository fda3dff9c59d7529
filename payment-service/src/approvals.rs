//! PayPal payments wait for the buyer: the charge created an order and answered its approval
//! link; the buyer approves on PayPal's page; this service then captures the order, and only
//! while the checkout's stock is still held. An approval that comes after the reservation was
//! released or expired is never captured: the payment fails (`approval_expired`) and PayPal lets
//! the uncaptured order lapse. A capture racing the reservation's expiry (held when asked,
//! expired a moment later) is refunded by the compensation like any late charge.
//!
//! The reconciler runs this for every due PayPal payment: a verified `CHECKOUT.ORDER.APPROVED`
//! webhook makes the payment due at once; without webhooks the reconciler's look-ups find the
//! approval (every 32 s at most while the buyer is away).
use crate::{
    gateway::{
        paypal::{self, NAME},
        ChargeAttempt, Gateway, GatewayError, Outcome, PayPalGateway,
    },
    store::payments::PaymentRow,
    upstream::product::{Reservations, Standing},
};
use std::sync::Arc;

/// The failure code of a PayPal payment whose buyer did not approve while the stock was held.
pub const APPROVAL_EXPIRED: &str = "approval_expired";

/// PayPal, where this service has an account: the gateway, and product's reservations, asked
/// right before each capture.
#[derive(Clone)]
pub struct PayPalCheckout {
    pub gateway: Arc<PayPalGateway>,
    pub reservations: Reservations,
}

/// Where a PayPal payment's order stands once more, capturing it when the buyer approved and
/// the stock is held. `released`: the order's reservation was released (ReservationReleased);
/// `expired`: the payment is past the maximum pending age.
pub async fn advance(
    checkout: &PayPalCheckout,
    payment: &PaymentRow,
    released: bool,
    expired: bool,
) -> Result<Outcome, GatewayError> {
    let gateway = checkout.gateway.as_ref();
    let too_late = released || expired;
    let Some(order_id) = payment.gateway_reference.as_deref() else {
        // The order's creation went unanswered. Repeated with the same PayPal-Request-Id it
        // answers the same order; once too late, no order of ours can be captured any more
        // (this service captures only orders whose id it stored).
        if too_late {
            return Ok(not_approved_in_time(None));
        }
        let attempt = ChargeAttempt {
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            payment_token: String::new(),
        };
        return gateway.charge(&attempt).await;
    };
    let order = gateway.api.order(order_id).await?;
    if let Some(capture) = &order.capture {
        return Ok(pending_on_the_order(paypal::capture_outcome(capture), order_id));
    }
    match order.status.as_str() {
        "APPROVED" if too_late => Ok(not_approved_in_time(Some(order_id))),
        "APPROVED" => match checkout.reservations.standing(&payment.order_id).await {
            Standing::Held => {
                // A new request id per attempt: PayPal replays a refused capture for its id, and
                // a buyer sent back to choose another funding source approves again. Capturing
                // twice is impossible all the same: PayPal refuses a captured order.
                let request_id = format!("{}-capture-{}", payment.id, payment.attempts);
                let outcome = gateway.api.capture(order_id, &request_id).await?;
                Ok(pending_on_the_order(outcome, order_id))
            }
            Standing::Released | Standing::Missing => Ok(not_approved_in_time(Some(order_id))),
            Standing::Sold { .. } | Standing::Unknown => Err(GatewayError::Unavailable(
                "product did not confirm that the order's stock is held; the capture waits".to_owned(),
            )),
        },
        "VOIDED" => Ok(Outcome::Declined {
            reference: Some(order_id.to_owned()),
            code: "voided".to_owned(),
            message: "PayPal voided the order.".to_owned(),
        }),
        // CREATED, PAYER_ACTION_REQUIRED, SAVED: the buyer has not approved (yet).
        _ if too_late => Ok(not_approved_in_time(Some(order_id))),
        _ => Ok(Outcome::AwaitingApproval {
            reference: order_id.to_owned(),
            approval_url: payment.approval_url.clone().unwrap_or_default(),
        }),
    }
}

/// Whether a payment is PayPal's (and so advanced here, not by the card gateway's look-ups).
pub fn is_paypal(payment: &PaymentRow) -> bool {
    payment.gateway == NAME
}

/// A capture PayPal holds (pending) is followed through its order: the payment's reference
/// stays the order's id until the capture is final.
fn pending_on_the_order(outcome: Outcome, order_id: &str) -> Outcome {
    match outcome {
        Outcome::Pending { .. } => Outcome::Pending { reference: order_id.to_owned() },
        other => other,
    }
}

fn not_approved_in_time(order_id: Option<&str>) -> Outcome {
    Outcome::Declined {
        reference: order_id.map(str::to_owned),
        code: APPROVAL_EXPIRED.to_owned(),
        message: "The PayPal payment was not approved while the stock was held; nothing was taken.".to_owned(),
    }
}
