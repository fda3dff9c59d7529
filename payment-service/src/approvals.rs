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
    domain::PaymentStatus,
    error::PaymentError,
    gateway::{
        paypal::{self, NAME},
        ChargeAttempt, Gateway, GatewayError, Outcome, PayPalGateway,
    },
    store::{
        self,
        payments::{self, PaymentRow},
        released, Conn,
    },
    upstream::product::{Reservations, Standing},
};
use scoped_futures::ScopedFutureExt;
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
/// `expired`: the payment is past the maximum pending age. The outer error is this service's
/// store failing; the inner result is what PayPal answered.
pub async fn advance(
    checkout: &PayPalCheckout,
    conn: &mut Conn,
    payment: &PaymentRow,
    released: bool,
    expired: bool,
) -> Result<Result<Outcome, GatewayError>, PaymentError> {
    let gateway = checkout.gateway.as_ref();
    let too_late = released || expired;
    let Some(order_id) = payment.gateway_reference.as_deref() else {
        // The order's creation went unanswered. Repeated with the same PayPal-Request-Id it
        // answers the same order; once too late, no order of ours can be captured any more
        // (this service captures only orders whose id it stored).
        if too_late {
            return Ok(Ok(not_approved_in_time(None)));
        }
        let attempt = ChargeAttempt {
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            payment_token: String::new(),
        };
        return Ok(gateway.charge(&attempt).await);
    };
    if too_late {
        return Ok(give_up(gateway, payment, order_id).await);
    }
    let order = match gateway.api.order(order_id).await {
        Ok(order) => order,
        Err(error) => return Ok(Err(error)),
    };
    if let Some(capture) = &order.capture {
        return Ok(Ok(on_the_order(paypal::capture_outcome(capture), order_id)));
    }
    Ok(match order.status.as_str() {
        "APPROVED" => match checkout.reservations.standing(&payment.order_id).await {
            Standing::Held => {
                // A new request id per attempt: PayPal replays a refused capture for its id, and
                // a buyer sent back to choose another funding source approves again. Capturing
                // twice is impossible all the same: PayPal refuses a captured order. Kept before
                // it is sent, so that a capture whose answer is lost is asked again, never
                // assumed not made.
                let request_id = format!("{}-capture-{}", payment.id, payment.attempts);
                if !capture_sent(conn, payment, &request_id).await? {
                    return Ok(Err(GatewayError::Unavailable(
                        "the order's stock was released meanwhile; the capture is not sent".to_owned(),
                    )));
                }
                gateway.api.capture(order_id, &request_id).await.map(|outcome| on_the_order(outcome, order_id))
            }
            Standing::Released | Standing::Missing => give_up(gateway, payment, order_id).await,
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
        _ => Ok(Outcome::AwaitingApproval {
            reference: order_id.to_owned(),
            approval_url: payment.approval_url.clone().unwrap_or_default(),
        }),
    })
}

/// The stock is no longer held: the order is not captured from now on. If no capture was ever
/// sent, nothing can have been taken (this service is the only one capturing its orders), and
/// PayPal need not even be asked. If one was sent, PayPal's record decides: a capture on the
/// order (made, held or declined) is followed to its end — made, it is refunded by the
/// compensation, the order being released; an order still approved without one may have that
/// capture in flight, so the same request is sent again (PayPal answers with what it did, or
/// refuses it: then nothing was taken); an order PayPal no longer has was never captured.
async fn give_up(gateway: &PayPalGateway, payment: &PaymentRow, order_id: &str) -> Result<Outcome, GatewayError> {
    let Some(request_id) = payment.capture_request_id.as_deref() else {
        return Ok(not_approved_in_time(Some(order_id)));
    };
    let order = match gateway.api.find_order(order_id).await? {
        Some(order) => order,
        None => {
            tracing::warn!(payment_id = payment.id, order_id, "PayPal no longer has the order: nothing was captured");
            return Ok(not_approved_in_time(Some(order_id)));
        }
    };
    if let Some(capture) = &order.capture {
        return Ok(on_the_order(paypal::capture_outcome(capture), order_id));
    }
    if order.status != "APPROVED" {
        return Ok(not_approved_in_time(Some(order_id)));
    }
    match gateway.api.capture(order_id, request_id).await {
        // Refused (not approved any more, the buyer's funding source declined, another 4xx):
        // nothing was taken. A capture PayPal holds comes back with the capture's id instead.
        Ok(Outcome::Pending { reference }) if reference == order_id => Ok(not_approved_in_time(Some(order_id))),
        Err(GatewayError::Refused(_)) => Ok(not_approved_in_time(Some(order_id))),
        answer => answer.map(|outcome| on_the_order(outcome, order_id)),
    }
}

/// Records the capture about to be sent, in one transaction with the payment locked and the
/// order's release read (a locking read): `false`, and nothing is sent, when the payment is no
/// longer pending or its order was released meanwhile. A release recorded after this commits
/// finds the capture's id, so whoever gives the payment up asks PayPal about that capture.
async fn capture_sent(conn: &mut Conn, payment: &PaymentRow, request_id: &str) -> Result<bool, PaymentError> {
    store::transaction::<_, PaymentError, _>(conn, |conn| {
        async move {
            let pending = payments::lock(conn, &payment.id).await?.is_some_and(|p| p.status == PaymentStatus::Pending);
            if !pending || released::is_released(conn, &payment.order_id).await? {
                return Ok(false);
            }
            payments::capture_sent(conn, &payment.id, request_id).await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// Whether a payment is PayPal's (and so advanced here, not by the card gateway's look-ups).
pub fn is_paypal(payment: &PaymentRow) -> bool {
    payment.gateway == NAME
}

/// A capture's outcome, kept on the order: a capture PayPal holds (pending) is followed through
/// its order (the payment's reference stays the order's id until the capture is final), and a
/// refusal keeps the order's id, so a capture event about it is still recognised as this
/// payment's.
fn on_the_order(outcome: Outcome, order_id: &str) -> Outcome {
    match outcome {
        Outcome::Pending { .. } => Outcome::Pending { reference: order_id.to_owned() },
        Outcome::Declined { reference: None, code, message } => {
            Outcome::Declined { reference: Some(order_id.to_owned()), code, message }
        }
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
