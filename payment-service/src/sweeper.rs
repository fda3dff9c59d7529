//! The sweeper: no paid order stays unsold for want of an event. Payment refunds an unsold
//! checkout's charge when product announces the release of its reservation
//! (`ReservationReleased`, compensation.rs); a consumer that lags past the topic's retention,
//! or a release published while nothing consumed it, would lose that announcement, and the
//! money would stay. So every charge that succeeds is marked unconfirmed (`sale_check_at`),
//! and once the grace has passed without the mark being cleared, the sweeper asks product
//! where the order's reservation stands (`GetReservation`, the order id is the reservation id):
//! - sold for this payment's amount: confirmed, the mark is cleared;
//! - still held (reserved): asked again after another grace;
//! - released or expired: recorded as released, and every charge of the order refunded
//!   (`compensation::order_released`, as the event would have), unless the event did so already;
//! - sold for another amount (another payment's sale): refunded, and asked again after another
//!   grace until the payment no longer holds money (a refused refund is started anew);
//! - no such reservation: never refunded from here. A payment without a reservation is not a
//!   checkout's (a direct `Charge`, the load generator's) or product answers for another
//!   database (a misconfigured URL, a restored backup): refunding on that answer could refund
//!   every sale at once. It is logged as an error and asked again after an hour;
//! - product does not answer: asked again a minute later.
//!
//! Rows are claimed with SKIP LOCKED and a lease, as the reconciler's are: any number of
//! replicas sweep, never the same order at once, and a replica that dies mid-way leaves its
//! rows to the next round after the lease.
use crate::{
    compensation,
    db::Db,
    error::PaymentError,
    metrics::Metrics,
    store::{
        self,
        payments::{self, PaymentRow},
        released, Conn,
    },
    upstream::product::{Reservations, Standing},
};
use chrono::{Duration as ChronoDuration, NaiveDateTime, Utc};
use scoped_futures::ScopedFutureExt;
use std::time::Duration;
use tokio::sync::watch;

const BATCH: i64 = 20;
/// How long a claimed row is left to this replica: more than a batch's calls at their timeout.
const LEASE: ChronoDuration = ChronoDuration::minutes(5);
/// When to ask again about an order product did not answer for.
const RETRY: ChronoDuration = ChronoDuration::seconds(60);
/// When to ask again about an order product does not know.
const MISSING_RETRY: ChronoDuration = ChronoDuration::hours(1);
/// Reasons recorded with a release the sweeper found.
const SWEPT: &str = "swept";

/// What product's answer makes of a paid order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sold, for this payment's amount and currency.
    Sold,
    /// Still reserved: the checkout may yet commit it.
    Held,
    /// Released or expired: never sold.
    Released,
    /// Sold, but for another amount: another payment's sale.
    OtherSale,
    /// No reservation with the order's id.
    NoReservation,
    /// Product did not say (unavailable, or a state this build does not know).
    Unknown,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Self::Sold => "sold",
            Self::Held => "held",
            Self::Released => "released",
            Self::OtherSale => "other_sale",
            Self::NoReservation => "missing",
            Self::Unknown => "unknown",
        }
    }
}

/// What `standing` makes of `payment`'s order.
pub fn verdict(payment: &PaymentRow, standing: Standing) -> Verdict {
    match standing {
        Standing::Held => Verdict::Held,
        Standing::Released => Verdict::Released,
        Standing::Missing => Verdict::NoReservation,
        Standing::Unknown => Verdict::Unknown,
        Standing::Sold { amount_minor, currency } => {
            if amount_minor == payment.amount_minor && currency.eq_ignore_ascii_case(&payment.currency) {
                Verdict::Sold
            } else {
                Verdict::OtherSale
            }
        }
    }
}

/// The sweeper's name in `background_task_runs_total{task}`.
pub const TASK: &str = "sale_sweeper";

#[derive(Clone)]
pub struct Sweeper {
    pub db: Db,
    pub product: Reservations,
    pub grace: Duration,
    pub metrics: Metrics,
}

impl Sweeper {
    /// Sweeps every `interval` until `stop` turns true, counting each round in the metrics.
    pub async fn run(self, interval: Duration, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let round = self.sweep_once().await;
            self.metrics.background_round(TASK, round.is_ok());
            match round {
                Ok(n) if n as i64 >= BATCH => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "sweeping paid orders"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One round; returns how many paid orders were looked at.
    pub async fn sweep_once(&self) -> Result<usize, PaymentError> {
        let grace = ChronoDuration::from_std(self.grace).unwrap_or(ChronoDuration::minutes(30));
        let now = Utc::now().naive_utc();
        let due = store::transaction::<_, PaymentError, _>(&mut *self.db.conn().await?, |conn| {
            async move { payments::claim_sale_checks(conn, now - grace, now - grace + LEASE, BATCH).await }
                .scope_boxed()
        })
        .await?;
        for payment in &due {
            // Refunded meanwhile (by the event's compensation, or the shopper): nothing to ask.
            if !payment.status.holds_money() {
                payments::check_sale_at(&mut *self.db.conn().await?, &payment.id, None).await?;
                self.metrics.observe_sale_check("settled");
                continue;
            }
            // No database connection is held while product is asked (up to its timeout).
            let verdict = verdict(payment, self.product.standing(&payment.order_id).await);
            self.settle(&mut *self.db.conn().await?, payment, verdict, grace).await?;
            self.metrics.observe_sale_check(verdict.label());
        }
        Ok(due.len())
    }

    /// Applies the verdict in one transaction: the mark moved on or cleared, refunds started.
    async fn settle(
        &self,
        conn: &mut Conn,
        payment: &PaymentRow,
        verdict: Verdict,
        grace: ChronoDuration,
    ) -> Result<(), PaymentError> {
        let now = Utc::now().naive_utc();
        match verdict {
            Verdict::Released | Verdict::OtherSale => tracing::warn!(
                payment_id = payment.id,
                order_id = payment.order_id,
                verdict = verdict.label(),
                "a paid order that was not sold for this payment; refunding it"
            ),
            Verdict::NoReservation => tracing::error!(
                payment_id = payment.id,
                order_id = payment.order_id,
                "product knows no reservation for this paid order; not refunded from here: check the payment's \
                 caller and PAYMENT_PRODUCT_GRPC_URL"
            ),
            Verdict::Sold | Verdict::Held | Verdict::Unknown => {}
        }
        store::transaction::<_, PaymentError, _>(conn, |conn| {
            async move {
                let next: Option<NaiveDateTime> = match verdict {
                    Verdict::Sold => None,
                    Verdict::Held => Some(now),
                    Verdict::Unknown => Some(now - grace + RETRY),
                    Verdict::NoReservation => Some(now - grace + MISSING_RETRY),
                    // The event's compensation did it already (its refused refunds have their
                    // own cap and their operator): nothing more from here.
                    Verdict::Released if released::is_released(conn, &payment.order_id).await? => None,
                    Verdict::Released => {
                        compensation::order_released(conn, &payment.order_id, SWEPT, now).await?;
                        None
                    }
                    // Asked again after another grace: the payment then holds no money (done),
                    // or its refund was refused and is started anew.
                    Verdict::OtherSale => {
                        compensation::refund_unsold(conn, &payment.id, now).await?;
                        Some(now)
                    }
                };
                payments::check_sale_at(conn, &payment.id, next).await
            }
            .scope_boxed()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PaymentStatus;

    fn payment(amount_minor: i64) -> PaymentRow {
        let at = Utc::now().naive_utc();
        PaymentRow {
            id: "p".into(),
            user_id: "u".into(),
            order_id: "o".into(),
            amount_minor,
            currency: "EUR".into(),
            refunded_minor: 0,
            status: PaymentStatus::Succeeded,
            gateway: "stripe".into(),
            gateway_reference: Some("pi_1".into()),
            payment_token: None,
            failure_code: None,
            failure_message: None,
            order_lines: "[]".into(),
            attempts: 0,
            created_at: at,
            updated_at: at,
            approval_url: None,
            capture_request_id: None,
        }
    }

    #[test]
    fn each_standing_of_the_order_has_its_verdict() {
        let paid = payment(1000);
        let sold = |amount_minor: i64, currency: &str| Standing::Sold { amount_minor, currency: currency.into() };
        assert_eq!(verdict(&paid, sold(1000, "eur")), Verdict::Sold);
        assert_eq!(verdict(&paid, sold(700, "EUR")), Verdict::OtherSale);
        assert_eq!(verdict(&paid, sold(1000, "USD")), Verdict::OtherSale);
        assert_eq!(verdict(&paid, Standing::Held), Verdict::Held);
        assert_eq!(verdict(&paid, Standing::Released), Verdict::Released);
        assert_eq!(verdict(&paid, Standing::Missing), Verdict::NoReservation);
        assert_eq!(verdict(&paid, Standing::Unknown), Verdict::Unknown);
    }
}
