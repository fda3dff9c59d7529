//! The reconciler: settles what a request left pending. A charge or refund the gateway never
//! answered (a timeout, an outage, a process that died before writing the answer) is repeated
//! with the same idempotency key (the gateway answers a repeat with its first decision, so
//! nothing is charged twice). One the gateway accepted but had not finished (Stripe's
//! `processing` / `pending`, stored with its reference) is looked up instead: a repeat would
//! only replay that first, unfinished answer. Rows are claimed with SKIP LOCKED and a lease, so
//! replicas never work on the same one. It also purges idempotency keys past their 24 hours.
//!
//! Past the maximum pending age (below the gateway's 24 h idempotency window) nothing is
//! repeated any more, since a repeat the gateway no longer recognises would be a new charge or
//! refund: an accepted charge is cancelled, an unanswered one is searched for at the gateway
//! (its answers may all have been lost) and, if found, given up like an accepted one, else
//! failed (`gateway_timeout`); an unanswered refund is left for its webhook or an operator.
use crate::{
    approvals,
    error::PaymentError,
    gateway::{ChargeAttempt, Gateway, GatewayError, Outcome, RefundAttempt},
    metrics::Metrics,
    payments::Payments,
    settlement,
    store::{
        self, idempotency,
        payments::{self, PaymentRow},
        refunds::{self, RefundRow},
        released, Conn,
    },
};
use chrono::{Duration as ChronoDuration, Utc};
use scoped_futures::ScopedFutureExt;
use std::time::Duration;
use tokio::sync::watch;

const BATCH: i64 = 20;
/// How long a claimed row is left to this replica.
const LEASE: ChronoDuration = ChronoDuration::seconds(60);
/// How long past the maximum pending age an unanswered search is tried before the payment fails.
const SEARCH_FOR: ChronoDuration = ChronoDuration::hours(24);
/// Used if the configured maximum age does not fit chrono's range (it always does).
const DEFAULT_MAX_PENDING_AGE: ChronoDuration = ChronoDuration::hours(23);

/// One round; returns how many payments and refunds got an answer attempt.
pub async fn reconcile_once(payments: &Payments, max_pending_age: Duration) -> Result<usize, PaymentError> {
    let max_age = ChronoDuration::from_std(max_pending_age).unwrap_or(DEFAULT_MAX_PENDING_AGE);
    let mut conn = payments.db().conn().await?;
    let (due_payments, due_refunds) = claim_due(&mut conn).await?;
    let attempted = due_payments.len() + due_refunds.len();
    for payment in due_payments {
        settle_payment(payments, &mut conn, payment, max_age).await?;
    }
    for refund in due_refunds {
        settle_refund(payments, &mut conn, refund, max_age).await?;
    }
    let purged = idempotency::purge_expired(&mut conn, 1000).await?;
    if attempted > 0 || purged > 0 {
        payments.outbox_ready().notify_one();
        tracing::info!(attempted, purged, "reconciler round");
    }
    Ok(attempted)
}

/// The pending payments and refunds due for another attempt, leased to this replica for
/// `LEASE` so that no other one takes them meanwhile.
async fn claim_due(conn: &mut Conn) -> Result<(Vec<PaymentRow>, Vec<RefundRow>), PaymentError> {
    let now = Utc::now().naive_utc();
    store::transaction::<_, PaymentError, _>(conn, |conn| {
        async move {
            let p = payments::claim_due(conn, now, now + LEASE, BATCH).await?;
            let r = refunds::claim_due(conn, now, now + LEASE, BATCH).await?;
            Ok((p, r))
        }
        .scope_boxed()
    })
    .await
}

/// Asks the gateway about a pending payment (or charges it, if the gateway never accepted it)
/// and applies the answer; past the maximum pending age, an accepted charge is given up (voided
/// or refunded) and an unaccepted one fails.
async fn settle_payment(
    payments: &Payments,
    conn: &mut Conn,
    payment: PaymentRow,
    max_age: ChronoDuration,
) -> Result<(), PaymentError> {
    let expired = Utc::now().naive_utc() - payment.created_at > max_age;
    if approvals::is_paypal(&payment) {
        return settle_paypal(payments, conn, payment, expired).await;
    }
    let gateway = payments.gateways().card.as_ref();
    let answer = match (payment.gateway_reference.as_deref(), expired) {
        (Some(reference), false) => gateway.charge_status(&payment.id, reference).await,
        (Some(reference), true) => give_up_accepted(gateway, &payment.id, reference).await,
        (None, false) => {
            let Some(payment_token) = payment.payment_token.clone() else { return Ok(()) };
            let attempt = ChargeAttempt {
                payment_id: payment.id.clone(),
                order_id: payment.order_id.clone(),
                amount_minor: payment.amount_minor,
                currency: payment.currency.clone(),
                payment_token,
            };
            gateway.charge(&attempt).await
        }
        // No answer ever arrived, and the key may be forgotten: the charge may still have been
        // made. Only the gateway's search saying there is none lets the payment fail.
        (None, true) => match gateway.find_charge(&payment.id, payment.amount_minor, &payment.currency).await {
            Ok(Some(reference)) => {
                tracing::warn!(
                    payment_id = payment.id,
                    "a charge whose answers were all lost was found at the gateway"
                );
                give_up_accepted(gateway, &payment.id, &reference).await
            }
            Ok(None) => {
                tracing::warn!(
                    payment_id = payment.id,
                    "no answer from the gateway within the maximum pending age, and no charge found; the payment fails"
                );
                Ok(timed_out(None))
            }
            // A search refused for good (a key without the search permission) would hold the
            // payment, and its order, pending for ever: past a day of trying it fails, loudly.
            // A charge made after all is still booked by its webhook (a late success).
            Err(error) if Utc::now().naive_utc() - payment.created_at > max_age + SEARCH_FOR => {
                tracing::error!(
                    payment_id = payment.id,
                    error = %error,
                    "the gateway never answered the search for this charge; it fails without knowing whether \
                     the money moved: check the gateway for this payment id"
                );
                Ok(timed_out(None))
            }
            Err(error) => Err(error),
        },
    };
    let topic = payments.events_topic();
    let now = Utc::now().naive_utc();
    let retry = settlement::retry_at(now, payment.attempts + 1);
    store::transaction::<_, PaymentError, _>(conn, |conn| {
        async move { settlement::apply_charge(conn, topic, &payment.id, answer, now, retry).await }.scope_boxed()
    })
    .await
}

/// Advances a PayPal payment (`approvals.rs`) and applies the answer. While the buyer has not
/// approved, its order is looked at again within 32 s at most (the webhook usually comes first).
async fn settle_paypal(
    payments: &Payments,
    conn: &mut Conn,
    payment: PaymentRow,
    expired: bool,
) -> Result<(), PaymentError> {
    let answer = match &payments.gateways().paypal {
        Some(checkout) => {
            let released = released::is_released(conn, &payment.order_id).await?;
            approvals::advance(checkout, conn, &payment, released, expired).await?
        }
        None => {
            tracing::error!(
                payment_id = payment.id,
                "a PayPal payment is open but this replica has no PayPal account configured: set PAYMENT_PAYPAL_* \
                 on every replica while PayPal payments are open or refundable"
            );
            Err(crate::gateway::no_paypal_here())
        }
    };
    let waiting = matches!(answer, Ok(Outcome::AwaitingApproval { .. }));
    let topic = payments.events_topic();
    let now = Utc::now().naive_utc();
    let attempts = if waiting { (payment.attempts + 1).min(4) } else { payment.attempts + 1 };
    let retry = settlement::retry_at(now, attempts);
    store::transaction::<_, PaymentError, _>(conn, |conn| {
        async move { settlement::apply_charge(conn, topic, &payment.id, answer, now, retry).await }.scope_boxed()
    })
    .await
}

/// Asks the gateway about a pending refund (or sends it, if the gateway never accepted it) and
/// applies the answer; past the maximum pending age an unaccepted refund is parked, never
/// repeated.
async fn settle_refund(
    payments: &Payments,
    conn: &mut Conn,
    refund: RefundRow,
    max_age: ChronoDuration,
) -> Result<(), PaymentError> {
    let age = Utc::now().naive_utc() - refund.created_at;
    let Some(payment) = payments::find(conn, &refund.payment_id).await? else { return Ok(()) };
    let gateway = payments.gateways().holding(&payment.gateway);
    if let Err(error) = &gateway {
        tracing::error!(refund_id = refund.id, error = %error, "a refund waits for a gateway this replica lacks");
    }
    let answer = match refunds::reference(conn, &refund.id).await? {
        // Accepted: only its look-up can tell; a repeat replays the first answer, and one
        // past the key's 24 hours would be refused (or refund again).
        Some(reference) => match gateway {
            Ok(gateway) => gateway.refund_status(&reference).await,
            Err(error) => Err(error),
        },
        None if age > max_age => {
            tracing::error!(
                refund_id = refund.id,
                "a refund the gateway never answered reached the maximum pending age; it is not repeated \
                 (that could refund twice) and waits for the gateway's webhook or an operator"
            );
            refunds::park(conn, &refund.id, Utc::now().naive_utc()).await?;
            return Ok(());
        }
        None => {
            let attempt = RefundAttempt {
                refund_id: refund.id.clone(),
                charge_reference: payment.gateway_reference.clone().unwrap_or_default(),
                amount_minor: refund.amount_minor,
                currency: refund.currency.clone(),
            };
            match gateway {
                Ok(gateway) => gateway.refund(&attempt).await,
                Err(error) => Err(error),
            }
        }
    };
    let topic = payments.events_topic();
    let now = Utc::now().naive_utc();
    let retry = settlement::retry_at(now, refund_backoff(age));
    store::transaction::<_, PaymentError, _>(conn, |conn| {
        async move { settlement::apply_refund(conn, topic, &refund, answer, now, retry).await }.scope_boxed()
    })
    .await
}

/// An accepted charge still without a final answer at the maximum age: it is cancelled at the
/// gateway, unless the look-up finds it final meanwhile. A cancel answered "already succeeded"
/// settles it as succeeded; one that cannot be cancelled yet (processing) stays pending and is
/// asked about again.
async fn give_up_accepted(gateway: &dyn Gateway, payment_id: &str, reference: &str) -> Result<Outcome, GatewayError> {
    match gateway.charge_status(payment_id, reference).await? {
        Outcome::Pending { .. } | Outcome::AwaitingApproval { .. } => match gateway
            .cancel_charge(payment_id, reference)
            .await?
        {
            Outcome::Declined { reference, .. } => {
                tracing::warn!(payment_id, "cancelled at the gateway: no final answer within the maximum pending age");
                Ok(timed_out(reference))
            }
            other => Ok(other),
        },
        settled => Ok(settled),
    }
}

fn timed_out(reference: Option<String>) -> Outcome {
    Outcome::Declined {
        reference,
        code: "gateway_timeout".to_owned(),
        message: "The payment gateway gave no final answer in time.".to_owned(),
    }
}

/// Refunds keep no attempt count: the wait grows with the refund's age instead (about as long
/// again as it has been pending, 2 s to 5 min), so a pending refund is looked up quickly at
/// first and rarely once it has waited long.
fn refund_backoff(age: ChronoDuration) -> i32 {
    age.num_seconds().max(1).ilog2() as i32
}

/// The reconciler's name in `background_task_runs_total{task}`.
pub const TASK: &str = "reconciler";

/// Runs a round every `interval` until `stop` turns true, counting each round in `metrics`.
pub async fn run(
    payments: Payments,
    interval: Duration,
    max_pending_age: Duration,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let round = reconcile_once(&payments, max_pending_age).await;
        metrics.background_round(TASK, round.is_ok());
        match round {
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "reconciling pending payments"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_are_looked_up_less_often_as_they_age() {
        let wait = |age| {
            let now = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
            (settlement::retry_at(now, refund_backoff(ChronoDuration::seconds(age))) - now).num_seconds()
        };
        assert_eq!(wait(0), 2);
        assert_eq!(wait(2), 4);
        assert_eq!(wait(10), 16);
        assert_eq!(wait(86_400), 300);
    }
}
