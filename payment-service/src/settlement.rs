//! Applying a gateway's answer to a payment or a refund, with its event, inside the caller's
//! transaction. Whoever learns the answer — the request itself, the reconciler, a webhook —
//! applies it the same way, and only a still-pending payment or refund changes, so racing
//! learners settle it once.
use crate::{
    compensation,
    domain::{PaymentStatus, RefundStatus},
    error::PaymentError,
    events::{outbox, types},
    gateway::{GatewayError, Outcome},
    proto::shop::{
        common::v1::Money,
        events::v1::{PaidLine, PaymentFailed, PaymentRefunded, PaymentSucceeded},
    },
    store::{
        payments::{self, PaymentRow},
        refunds::{self, RefundRow},
        Conn,
    },
};
use chrono::{Duration as ChronoDuration, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// One order line as stored with the payment (JSON) and carried by `PaymentSucceeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
}

/// Applies the gateway's answer to a charge. No decision (timeout, outage) keeps the payment
/// pending and asks the reconciler to try again at `retry_at` with the same idempotency key.
pub async fn apply_charge(
    conn: &mut Conn,
    topic: &str,
    payment_id: &str,
    answer: Result<Outcome, GatewayError>,
    now: NaiveDateTime,
    retry_at: NaiveDateTime,
) -> Result<(), PaymentError> {
    match answer {
        Ok(Outcome::Succeeded { reference }) => {
            let settled =
                payments::settle(conn, payment_id, PaymentStatus::Succeeded, Some(&reference), None, now).await?;
            // The gateway took the money after this service had booked the charge declined (a
            // late `payment_intent.succeeded`): the books follow the gateway, and the money goes
            // back unless this charge becomes the order's sale (`after_late_success`).
            let revived = !settled && payments::revive_failed(conn, payment_id, &reference, now).await?;
            if revived {
                tracing::warn!(payment_id, "a charge booked declined succeeded at the gateway after all");
            }
            if revived {
                // Its sale is unconfirmed from now on, until the sweeper hears of it (`settle`
                // marks a settled one itself).
                payments::check_sale_at(conn, payment_id, Some(now)).await?;
            }
            if settled || revived {
                let payment = reload(conn, payment_id).await?;
                record_succeeded(conn, topic, &payment, now).await?;
                if revived {
                    compensation::after_late_success(conn, &payment, now).await?;
                } else {
                    // Settled after its checkout gave the stock back (a late answer): refund it.
                    compensation::after_success(conn, &payment, now).await?;
                }
            }
        }
        Ok(Outcome::Declined { reference, code, message }) => {
            let failure = Some((code.as_str(), message.as_str()));
            if payments::settle(conn, payment_id, PaymentStatus::Failed, reference.as_deref(), failure, now).await? {
                let payment = reload(conn, payment_id).await?;
                record_failed(conn, topic, &payment).await?;
            }
        }
        // Accepted, not final: the gateway's webhook settles it, or the reconciler looking it up
        // by its reference (with the usual backoff) if the webhook never comes.
        Ok(Outcome::Pending { reference }) => {
            payments::defer(conn, payment_id, Some(&reference), Some(retry_at), now).await?
        }
        // Waiting for the buyer (PayPal): a verified approval webhook makes it due at once; the
        // reconciler's look-ups (`approvals.rs`) find an approval whose webhook never came.
        Ok(Outcome::AwaitingApproval { reference, approval_url }) => {
            payments::await_approval(conn, payment_id, &reference, &approval_url, retry_at, now).await?
        }
        Err(error) => {
            tracing::warn!(payment_id, error = %error, "no answer from the gateway; the payment stays pending");
            // A reference learnt earlier stays: the charge is looked up, never repeated.
            payments::retry_later(conn, payment_id, retry_at, now).await?
        }
    }
    Ok(())
}

/// Applies the gateway's answer to a refund: a success completes it, a refusal gives the
/// amount back to what may still be refunded, no answer leaves it for the reconciler.
pub async fn apply_refund(
    conn: &mut Conn,
    topic: &str,
    refund: &RefundRow,
    answer: Result<Outcome, GatewayError>,
    now: NaiveDateTime,
    retry_at: NaiveDateTime,
) -> Result<(), PaymentError> {
    match answer {
        Ok(Outcome::Succeeded { reference }) => {
            if refunds::settle(conn, &refund.id, RefundStatus::Succeeded, Some(&reference), None, now).await? {
                let payment = payments::lock(conn, &refund.payment_id)
                    .await?
                    .ok_or_else(|| PaymentError::PaymentNotFound(refund.payment_id.clone()))?;
                // What the gateway gave back, not what is still in flight: a refund that
                // later fails must not leave the payment marked refunded.
                let refunded = refunds::succeeded_total(conn, &payment.id).await?;
                let status = if refunded >= payment.amount_minor {
                    PaymentStatus::Refunded
                } else {
                    PaymentStatus::PartiallyRefunded
                };
                payments::set_status(conn, &payment.id, status, now).await?;
                let event = PaymentRefunded {
                    payment_id: payment.id.clone(),
                    refund_id: refund.id.clone(),
                    user_id: payment.user_id.clone(),
                    order_id: payment.order_id.clone(),
                    amount: Some(money(refund.amount_minor, &refund.currency)),
                    total_refunded: Some(money(refunded, &payment.currency)),
                };
                outbox::enqueue(conn, topic, &payment.user_id, types::PAYMENT_REFUNDED, &event).await?;
            }
        }
        Ok(Outcome::Declined { reference, code, .. }) => {
            if refunds::settle_refused(conn, &refund.id, reference.as_deref(), &code, now).await? {
                payments::add_refunded(conn, &refund.payment_id, -refund.amount_minor, now).await?;
                // Refundable again: an unsold checkout's charge is refunded anew.
                compensation::after_refund_failed(conn, &refund.payment_id, now).await?;
            } else {
                // Settled meanwhile, or accepted by the gateway under a reference this refusal
                // is not about (a later request's 4xx): the amount may have been refunded, so it
                // is not given back; the refund is looked up again.
                tracing::warn!(refund_id = refund.id, code, "a refusal not booked: the refund was settled or accepted");
                refunds::defer(conn, &refund.id, retry_at).await?
            }
        }
        // Accepted, not final: kept with its reference, so it is looked up from now on. (No
        // gateway asks a buyer to approve a refund.)
        Ok(Outcome::Pending { reference } | Outcome::AwaitingApproval { reference, .. }) => {
            refunds::defer_accepted(conn, &refund.id, &reference, retry_at, now).await?
        }
        Err(error) => {
            tracing::warn!(refund_id = refund.id, error = %error, "no answer from the gateway; the refund stays pending");
            refunds::defer(conn, &refund.id, retry_at).await?
        }
    }
    Ok(())
}

/// When to ask the gateway again after `attempts` unanswered attempts: 2 s doubling to 5 min.
pub fn retry_at(now: NaiveDateTime, attempts: i32) -> NaiveDateTime {
    let seconds = 2i64.saturating_mul(1 << attempts.clamp(0, 8)).min(300);
    now + ChronoDuration::seconds(seconds)
}

pub fn money(amount_minor: i64, currency: &str) -> Money {
    Money { amount_minor, currency: currency.to_owned() }
}

pub fn lines_of(payment: &PaymentRow) -> Vec<Line> {
    serde_json::from_str(&payment.order_lines).unwrap_or_default()
}

async fn reload(conn: &mut Conn, payment_id: &str) -> Result<PaymentRow, PaymentError> {
    payments::find(conn, payment_id).await?.ok_or_else(|| PaymentError::PaymentNotFound(payment_id.to_owned()))
}

async fn record_succeeded(
    conn: &mut Conn,
    topic: &str,
    payment: &PaymentRow,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    let event = PaymentSucceeded {
        payment_id: payment.id.clone(),
        user_id: payment.user_id.clone(),
        order_id: payment.order_id.clone(),
        amount: Some(money(payment.amount_minor, &payment.currency)),
        lines: lines_of(payment)
            .into_iter()
            .map(|l| PaidLine {
                product_id: l.product_id,
                name: l.name,
                quantity: l.quantity,
                unit_price: Some(money(l.unit_price_minor, &l.currency)),
            })
            .collect(),
        succeeded_at: Some(std::time::SystemTime::from(now.and_utc()).into()),
    };
    outbox::enqueue(conn, topic, &payment.user_id, types::PAYMENT_SUCCEEDED, &event).await?;
    Ok(())
}

async fn record_failed(conn: &mut Conn, topic: &str, payment: &PaymentRow) -> Result<(), PaymentError> {
    let event = PaymentFailed {
        payment_id: payment.id.clone(),
        user_id: payment.user_id.clone(),
        order_id: payment.order_id.clone(),
        amount: Some(money(payment.amount_minor, &payment.currency)),
        failure_code: payment.failure_code.clone().unwrap_or_default(),
        failure_message: payment.failure_message.clone().unwrap_or_default(),
    };
    outbox::enqueue(conn, topic, &payment.user_id, types::PAYMENT_FAILED, &event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_two_seconds_to_five_minutes() {
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        assert_eq!((retry_at(now, 0) - now).num_seconds(), 2);
        assert_eq!((retry_at(now, 3) - now).num_seconds(), 16);
        assert_eq!((retry_at(now, 30) - now).num_seconds(), 300);
    }
}
