//! The reconciler: settles what a request left pending — a charge or refund whose gateway call
//! timed out, or whose process died before writing the answer — by repeating the gateway call
//! with the same idempotency key (the gateway answers a repeat with its first decision, so
//! nothing is charged twice). Rows are claimed with SKIP LOCKED and a lease, so replicas never
//! work on the same one. It also purges idempotency keys past their 24 hours.
use crate::{
    error::PaymentError,
    gateway::{ChargeAttempt, RefundAttempt},
    payments::Payments,
    settlement,
    store::{idempotency, payments, refunds},
};
use chrono::{Duration as ChronoDuration, Utc};
use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection};
use std::time::Duration;
use tokio::sync::watch;

const BATCH: i64 = 20;
/// How long a claimed row is left to this replica.
const LEASE: ChronoDuration = ChronoDuration::seconds(60);

/// One round; returns how many payments and refunds got an answer attempt.
pub async fn reconcile_once(payments: &Payments) -> Result<usize, PaymentError> {
    let topic = payments.events_topic();
    let gateway = payments.gateway();
    let mut conn = payments.db().conn().await?;
    let now = Utc::now().naive_utc();
    let (due_payments, due_refunds) = conn
        .transaction::<_, PaymentError, _>(|conn| {
            async move {
                let p = payments::claim_due(conn, now, now + LEASE, BATCH).await?;
                let r = refunds::claim_due(conn, now, now + LEASE, BATCH).await?;
                Ok((p, r))
            }
            .scope_boxed()
        })
        .await?;
    let attempted = due_payments.len() + due_refunds.len();
    for payment in due_payments {
        let Some(payment_token) = payment.payment_token.clone() else { continue };
        let attempt = ChargeAttempt {
            payment_id: payment.id.clone(),
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            payment_token,
        };
        let answer = gateway.charge(&attempt).await;
        let now = Utc::now().naive_utc();
        let retry = settlement::retry_at(now, payment.attempts + 1);
        conn.transaction::<_, PaymentError, _>(|conn| {
            async move { settlement::apply_charge(conn, topic, &payment.id, answer, now, retry).await }.scope_boxed()
        })
        .await?;
    }
    for refund in due_refunds {
        let Some(payment) = payments::find(&mut conn, &refund.payment_id).await? else { continue };
        let attempt = RefundAttempt {
            refund_id: refund.id.clone(),
            charge_reference: payment.gateway_reference.unwrap_or_default(),
            amount_minor: refund.amount_minor,
            currency: refund.currency.clone(),
        };
        let answer = gateway.refund(&attempt).await;
        let now = Utc::now().naive_utc();
        let retry = settlement::retry_at(now, 3);
        conn.transaction::<_, PaymentError, _>(|conn| {
            async move { settlement::apply_refund(conn, topic, &refund, answer, now, retry).await }.scope_boxed()
        })
        .await?;
    }
    let purged = idempotency::purge_expired(&mut conn, 1000).await?;
    if attempted > 0 || purged > 0 {
        payments.outbox_ready().notify_one();
        tracing::info!(attempted, purged, "reconciler round");
    }
    Ok(attempted)
}

/// Runs a round every `interval` until `stop` turns true.
pub async fn run(payments: Payments, interval: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match reconcile_once(&payments).await {
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
