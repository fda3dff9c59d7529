//! Charges, refunds and their look-ups, for the calling user only. A charge is written as a
//! pending payment together with its idempotency key before the gateway is asked, so that a
//! crash at any point leaves something the reconciler can finish — never a charge nobody knows
//! about, never a second charge (the gateway call carries the payment id as its idempotency key).
use crate::{
    db::{Db, PooledConn},
    domain::{currency, PaymentMethod, PaymentStatus, RefundStatus},
    error::PaymentError,
    gateway::{ChargeAttempt, Gateway, GatewayError, Gateways, Outcome, RefundAttempt},
    idempotency::{self, Begin},
    settlement::{self, Line},
    store::{
        self,
        payments::{self, NewPayment, PaymentRow},
        refunds::{self, RefundRow},
        Conn,
    },
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{NaiveDateTime, Utc};
use scoped_futures::ScopedFutureExt;
use serde::Serialize;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tracing::{info_span, Instrument};
use uuid::Uuid;

pub const MAX_AMOUNT_MINOR: i64 = 100_000_000_000;
pub const MAX_LINES: usize = 100;
pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;
/// Tries at a connection for a settlement, each bounded by the database timeout: the gateway
/// has answered by then, and under a burst the settlement should not be what fails.
const SETTLE_CONNECTION_TRIES: u32 = 3;

/// A charge request as the caller sent it. Its serialization (the key left out) is what an
/// Idempotency-Key's request hash covers, so its fields and their order stay as they are.
#[derive(Debug, Clone, Serialize)]
pub struct ChargeInput {
    #[serde(skip)]
    pub idempotency_key: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub payment_token: String,
    pub lines: Vec<Line>,
    #[serde(skip_serializing_if = "PaymentMethod::is_card")]
    pub method: PaymentMethod,
}

/// A refund request as the caller sent it (hashed like `ChargeInput`).
#[derive(Debug, Clone, Serialize)]
pub struct RefundInput {
    #[serde(skip)]
    pub idempotency_key: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
}

/// A charge request that passed every rule: only `parse` makes one, and only one is charged.
#[derive(Debug, Clone)]
pub struct ValidCharge(ChargeInput);

impl ValidCharge {
    pub fn parse(input: ChargeInput) -> Result<Self, PaymentError> {
        validate_charge(&input)?;
        Ok(Self(input))
    }
}

impl std::ops::Deref for ValidCharge {
    type Target = ChargeInput;
    fn deref(&self) -> &ChargeInput {
        &self.0
    }
}

/// A refund request that passed every rule: only `parse` makes one, and only one is refunded.
#[derive(Debug, Clone)]
pub struct ValidRefund(RefundInput);

impl ValidRefund {
    pub fn parse(input: RefundInput) -> Result<Self, PaymentError> {
        validate_refund(&input)?;
        Ok(Self(input))
    }
}

impl std::ops::Deref for ValidRefund {
    type Target = RefundInput;
    fn deref(&self) -> &RefundInput {
        &self.0
    }
}

/// Who asked for a refund. The owner's own requests come through cart; an operator's support
/// refund is kept with who asked for it (`refunds.requested_by`), the audit trail.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    Owner,
    /// An admin, by user id.
    Operator(&'a str),
}

impl Requester<'_> {
    fn recorded(self) -> Option<String> {
        match self {
            Requester::Owner => None,
            Requester::Operator(admin) => Some(format!("operator:{admin}")),
        }
    }
}

fn validate_money(amount_minor: i64, currency_code: &str) -> Result<(), PaymentError> {
    if !(1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
        return Err(PaymentError::invalid(
            "amount.amount_minor",
            format!("must be 1 to {MAX_AMOUNT_MINOR} minor units"),
        ));
    }
    if !currency::is_known(currency_code) {
        return Err(PaymentError::invalid("amount.currency", format!("{currency_code:?} is not an ISO 4217 code")));
    }
    Ok(())
}

fn validate_text(field: &'static str, value: &str, max: usize) -> Result<(), PaymentError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(PaymentError::invalid(field, format!("must be 1 to {max} characters")));
    }
    Ok(())
}

fn validate_charge(input: &ChargeInput) -> Result<(), PaymentError> {
    idempotency::validate_key(&input.idempotency_key)?;
    validate_text("order_id", &input.order_id, 255)?;
    // Bytes too: the order id is product-service's reservation id (at most 255 bytes), and an
    // id it refuses would leave a paid order nobody can commit.
    if input.order_id.len() > 255 {
        return Err(PaymentError::invalid("order_id", "must be at most 255 bytes"));
    }
    match input.method {
        PaymentMethod::Card => validate_text("payment_token", &input.payment_token, 255)?,
        PaymentMethod::PayPal if !input.payment_token.is_empty() => {
            return Err(PaymentError::invalid("payment_token", "is for cards only: PayPal's buyer approves on PayPal"))
        }
        PaymentMethod::PayPal => {}
    }
    validate_money(input.amount_minor, &input.currency)?;
    if input.lines.len() > MAX_LINES {
        return Err(PaymentError::invalid("lines", format!("at most {MAX_LINES}")));
    }
    if input.lines.is_empty() {
        return Err(PaymentError::invalid("lines", "must list what is paid for"));
    }
    let mut lines_total: i64 = 0;
    for line in &input.lines {
        validate_text("lines.product_id", &line.product_id, 64)?;
        if !(1..=10_000).contains(&line.quantity) || line.unit_price_minor < 0 || line.currency != input.currency {
            return Err(PaymentError::invalid(
                "lines",
                "each line needs a quantity of 1 to 10000 and a non-negative price in the charge's currency",
            ));
        }
        lines_total = line
            .unit_price_minor
            .checked_mul(line.quantity)
            .and_then(|line_total| lines_total.checked_add(line_total))
            .ok_or_else(|| PaymentError::invalid("lines", "their total is out of range"))?;
    }
    // The amount is what the lines cost: a caller cannot pay less for them. (Product checks
    // the lines' prices against its reservation when the payment commits it.)
    if lines_total != input.amount_minor {
        return Err(PaymentError::invalid(
            "amount",
            format!("must equal the lines' total ({lines_total} minor units), not {}", input.amount_minor),
        ));
    }
    Ok(())
}

fn validate_refund(input: &RefundInput) -> Result<(), PaymentError> {
    idempotency::validate_key(&input.idempotency_key)?;
    validate_payment_id(&input.payment_id)?;
    validate_money(input.amount_minor, &input.currency)?;
    if input.reason.chars().count() > 500 {
        return Err(PaymentError::invalid("reason", "is longer than 500 characters"));
    }
    Ok(())
}

pub fn validate_payment_id(id: &str) -> Result<(), PaymentError> {
    id.parse::<Uuid>().map(|_| ()).map_err(|_| PaymentError::invalid("payment_id", "is not a UUID"))
}

pub struct Page {
    pub payments: Vec<PaymentRow>,
    pub next_page_token: Option<String>,
}

#[derive(Clone)]
pub struct Payments {
    db: Db,
    gateways: Gateways,
    events_topic: String,
    outbox_ready: Arc<Notify>,
    /// How long a first request may hold its key before a duplicate is answered with its
    /// (pending) result instead of `request_in_progress`: longer than a gateway call and the
    /// settlement after it.
    key_lock: chrono::Duration,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

impl Payments {
    pub fn new(
        db: Db,
        gateways: Gateways,
        events_topic: String,
        outbox_ready: Arc<Notify>,
        gateway_timeout: Duration,
        database_timeout: Duration,
    ) -> anyhow::Result<Self> {
        // The gateway's calls (PayPal's order takes two), then the settlement's connection
        // (each try waits for the pool and may open a connection, a timeout each) and its
        // transaction, then a margin.
        let settlement = database_timeout * (2 * SETTLE_CONNECTION_TRIES + 1);
        let key_lock = chrono::Duration::from_std(gateway_timeout * 2 + settlement + Duration::from_secs(5))?;
        Ok(Self { db, gateways, events_topic, outbox_ready, key_lock })
    }

    pub fn gateways(&self) -> &Gateways {
        &self.gateways
    }

    pub fn events_topic(&self) -> &str {
        &self.events_topic
    }

    pub fn outbox_ready(&self) -> &Notify {
        &self.outbox_ready
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Charges once per (user, idempotency key) and once per order: the pending payment is
    /// written before the gateway is asked, the gateway's answer settles it.
    pub async fn charge(&self, user_id: &str, input: ValidCharge) -> Result<PaymentRow, PaymentError> {
        let gateway: &dyn Gateway = match input.method {
            PaymentMethod::Card => self.gateways.card.as_ref(),
            PaymentMethod::PayPal => match &self.gateways.paypal {
                Some(paypal) => paypal.gateway.as_ref(),
                None => return Err(PaymentError::PaymentMethodUnavailable("PayPal")),
            },
        };
        let payment_id = Uuid::now_v7().to_string();
        // A connection per transaction, none held while the gateway answers: a real gateway
        // takes hundreds of milliseconds, during which a held connection would do nothing, and
        // the pool's size would cap charges in flight. If no connection comes back for the
        // settlement, the payment stays pending and the reconciler settles it (as after a crash).
        {
            let mut conn = self.db.conn().await?;
            let begun = self.begin_charge(&mut conn, user_id, &input, &payment_id, gateway);
            if let Begin::Replay(existing) = begun.instrument(info_span!("db.begin_charge")).await? {
                return self.find(&mut conn, user_id, &existing).await;
            }
        }
        let attempt = ChargeAttempt {
            payment_id: payment_id.clone(),
            order_id: input.order_id.clone(),
            amount_minor: input.amount_minor,
            currency: input.currency.clone(),
            payment_token: input.payment_token.clone(),
        };
        let answer = gateway.charge(&attempt).instrument(info_span!("gateway.charge")).await;
        let mut conn = self.settlement_conn().await?;
        let payment = self
            .settle_charge(&mut conn, user_id, &input.idempotency_key, &payment_id, answer)
            .instrument(info_span!("db.settle_charge"))
            .await?;
        self.outbox_ready.notify_one();
        Ok(payment)
    }

    /// A connection for the transaction that applies a gateway's answer, tried again when none
    /// came: the money has moved by then. If none comes, the payment or refund stays pending
    /// and its key locked, and the reconciler applies the answer after the lock.
    async fn settlement_conn(&self) -> Result<PooledConn, PaymentError> {
        let mut tries = 1;
        loop {
            match self.db.conn().await {
                Err(error) if tries < SETTLE_CONNECTION_TRIES => {
                    tracing::warn!(error = %error, tries, "no database connection to settle with; trying again");
                    tries += 1;
                }
                conn => return conn,
            }
        }
    }

    /// Claims the key and, for a new request, writes the pending payment, in one transaction.
    /// `Replay` names the payment an earlier request with this key, or for this order, made.
    async fn begin_charge(
        &self,
        conn: &mut Conn,
        user_id: &str,
        input: &ChargeInput,
        payment_id: &str,
        gateway: &dyn Gateway,
    ) -> Result<Begin, PaymentError> {
        let fingerprint = idempotency::fingerprint("charge", input)?;
        let started = now();
        let lock_until = started + self.key_lock;
        let gateway = gateway.name();
        // A PayPal buyer pays on PayPal: there is no token to keep.
        let payment_token = input.method.is_card().then_some(input.payment_token.as_str());
        store::transaction::<_, PaymentError, _>(conn, |conn| {
            let fingerprint = &fingerprint;
            async move {
                let key = &input.idempotency_key;
                let begin =
                    idempotency::begin(conn, user_id, key, fingerprint, payment_id, started, lock_until).await?;
                if begin == Begin::New {
                    // An order is charged once, whatever key a retry carries: a key purged
                    // after its 24 hours, or a caller that lost the key it used, finds the
                    // order's charge here and replays it instead of charging again.
                    // And by one shopper only: the order id is product's reservation id, which
                    // one payment sells. Another user's charge for it would be kept unsold
                    // (product refuses a second payment), so it is refused before any money moves.
                    let charged = payments::lock_for_order(conn, &input.order_id).await?;
                    let live = |payment: &&PaymentRow| payment.status != PaymentStatus::Failed;
                    if charged.iter().filter(live).any(|payment| payment.user_id != user_id) {
                        return Err(PaymentError::OrderAlreadyCharged);
                    }
                    if let Some(existing) = charged.iter().filter(live).find(|payment| payment.user_id == user_id) {
                        if existing.amount_minor != input.amount_minor || existing.currency != input.currency {
                            return Err(PaymentError::OrderAlreadyCharged);
                        }
                        crate::store::idempotency::point_at(conn, user_id, key, &existing.id).await?;
                        return Ok(Begin::Replay(existing.id.clone()));
                    }
                    let payment = NewPayment {
                        id: payment_id,
                        user_id,
                        order_id: &input.order_id,
                        amount_minor: input.amount_minor,
                        currency: &input.currency,
                        status: PaymentStatus::Pending.as_str(),
                        gateway,
                        payment_token,
                        order_lines: serde_json::to_string(&input.lines).map_err(anyhow::Error::from)?,
                        // If this process dies before the gateway answers, the reconciler
                        // takes over once the key's lock has run out.
                        next_attempt_at: Some(lock_until),
                        created_at: started,
                        updated_at: started,
                    };
                    payments::insert(conn, payment).await?;
                }
                Ok(begin)
            }
            .scope_boxed()
        })
        .await
    }

    /// Applies the gateway's answer to the pending payment and completes the key, in one
    /// transaction; returns the payment as it now stands.
    async fn settle_charge(
        &self,
        conn: &mut Conn,
        user_id: &str,
        key: &str,
        payment_id: &str,
        answer: Result<Outcome, GatewayError>,
    ) -> Result<PaymentRow, PaymentError> {
        let topic = &self.events_topic;
        store::transaction::<_, PaymentError, _>(conn, |conn| {
            async move {
                let now = now();
                settlement::apply_charge(conn, topic, payment_id, answer, now, settlement::retry_at(now, 0)).await?;
                crate::store::idempotency::complete(conn, user_id, key).await?;
                payments::find(conn, payment_id)
                    .await?
                    .ok_or_else(|| PaymentError::PaymentNotFound(payment_id.to_owned()))
            }
            .scope_boxed()
        })
        .await
    }

    /// Refunds part or all of a payment, once per (user, idempotency key), never past what the
    /// charge left: the pending refund is written (and counted) before the gateway is asked.
    pub async fn refund(
        &self,
        user_id: &str,
        input: ValidRefund,
        requester: Requester<'_>,
    ) -> Result<(RefundRow, PaymentRow), PaymentError> {
        let refund_id = Uuid::now_v7().to_string();
        let requested_by = requester.recorded();
        // As a charge: no connection held while the gateway answers.
        let (refund, charge_reference, holder) = {
            let mut conn = self.db.conn().await?;
            match self.begin_refund(&mut conn, user_id, &input, &refund_id, requested_by).await? {
                Err(existing) => return self.find_refund(&mut conn, user_id, &existing).await,
                Ok(created) => created,
            }
        };
        let attempt = RefundAttempt {
            refund_id: refund.id.clone(),
            charge_reference,
            amount_minor: refund.amount_minor,
            currency: refund.currency.clone(),
        };
        let answer = match self.gateways.holding(&holder) {
            Ok(gateway) => gateway.refund(&attempt).await,
            Err(error) => Err(error),
        };
        let mut conn = self.settlement_conn().await?;
        self.settle_refund(&mut conn, user_id, &input.idempotency_key, &refund, answer).await?;
        self.outbox_ready.notify_one();
        self.find_refund(&mut conn, user_id, &refund.id).await
    }

    /// Claims the key and, for a new request, checks the payment (the user's, refundable, same
    /// currency, enough left) and writes the pending refund, in one transaction with the payment
    /// locked. `Err(id)`: the refund an earlier request with this key made. `Ok`: the new refund,
    /// the charge's gateway reference and the gateway holding it.
    async fn begin_refund(
        &self,
        conn: &mut Conn,
        user_id: &str,
        input: &RefundInput,
        refund_id: &str,
        requested_by: Option<String>,
    ) -> Result<Result<(RefundRow, String, String), String>, PaymentError> {
        // An operator's request is told apart from the owner's and from another operator's with
        // the same key: a replay returns only the requester's own refund.
        let operation = match &requested_by {
            None => "refund".to_owned(),
            Some(requester) => format!("refund by {requester}"),
        };
        let fingerprint = idempotency::fingerprint(&operation, input)?;
        let started = now();
        let lock_until = started + self.key_lock;
        store::transaction::<_, PaymentError, _>(conn, |conn| {
            let fingerprint = &fingerprint;
            let requested_by = requested_by.clone();
            async move {
                let key = &input.idempotency_key;
                let begin = idempotency::begin(conn, user_id, key, fingerprint, refund_id, started, lock_until).await?;
                if let Begin::Replay(existing) = begin {
                    return Ok(Err(existing));
                }
                // Locked: concurrent refunds of one payment are judged one after another.
                let payment = payments::lock(conn, &input.payment_id)
                    .await?
                    .filter(|p| p.user_id == user_id)
                    .ok_or_else(|| PaymentError::PaymentNotFound(input.payment_id.clone()))?;
                if !payment.status.holds_money() {
                    return Err(PaymentError::NotRefundable(payment.status));
                }
                if input.currency != payment.currency {
                    return Err(PaymentError::invalid("amount.currency", "differs from the payment's currency"));
                }
                let refundable = payment.amount_minor - payment.refunded_minor;
                if input.amount_minor > refundable {
                    return Err(PaymentError::RefundExceedsCharge { refundable });
                }
                payments::add_refunded(conn, &payment.id, input.amount_minor, started).await?;
                let refund = RefundRow {
                    id: refund_id.to_owned(),
                    payment_id: payment.id.clone(),
                    amount_minor: input.amount_minor,
                    currency: input.currency.clone(),
                    reason: input.reason.clone(),
                    status: RefundStatus::Pending,
                    gateway_reference: None,
                    created_at: started,
                    requested_by,
                };
                // Due for the reconciler only if this request dies before the gateway answers.
                refunds::insert(conn, &refund, lock_until).await?;
                Ok(Ok((refund, payment.gateway_reference.unwrap_or_default(), payment.gateway)))
            }
            .scope_boxed()
        })
        .await
    }

    /// Applies the gateway's answer to the pending refund and completes the key, in one
    /// transaction.
    async fn settle_refund(
        &self,
        conn: &mut Conn,
        user_id: &str,
        key: &str,
        refund: &RefundRow,
        answer: Result<Outcome, GatewayError>,
    ) -> Result<(), PaymentError> {
        let topic = &self.events_topic;
        store::transaction::<_, PaymentError, _>(conn, |conn| {
            async move {
                let now = now();
                settlement::apply_refund(conn, topic, refund, answer, now, settlement::retry_at(now, 0)).await?;
                crate::store::idempotency::complete(conn, user_id, key).await
            }
            .scope_boxed()
        })
        .await
    }

    pub async fn get(&self, user_id: &str, payment_id: &str) -> Result<PaymentRow, PaymentError> {
        validate_payment_id(payment_id)?;
        let mut conn = self.db.conn().await?;
        self.find(&mut conn, user_id, payment_id).await
    }

    pub async fn list(&self, user_id: &str, page_size: i64, page_token: &str) -> Result<Page, PaymentError> {
        let before = if page_token.is_empty() {
            None
        } else {
            let id = URL_SAFE_NO_PAD
                .decode(page_token)
                .ok()
                .and_then(|bytes| Uuid::from_slice(&bytes).ok())
                .ok_or_else(|| PaymentError::invalid("page_token", "is not a token this service issued"))?;
            Some(id.to_string())
        };
        let mut conn = self.db.conn().await?;
        let mut rows = payments::page(&mut conn, user_id, before.as_deref(), page_size + 1).await?;
        let next_page_token = if rows.len() as i64 > page_size {
            rows.truncate(page_size as usize);
            rows.last().and_then(|p| p.id.parse::<Uuid>().ok()).map(|id| URL_SAFE_NO_PAD.encode(id.as_bytes()))
        } else {
            None
        };
        Ok(Page { payments: rows, next_page_token })
    }

    /// The payment if it is the user's: another user's payment is reported as missing, not
    /// forbidden, so that ids cannot be probed.
    /// The user a payment belongs to, for a refund an operator asks for on the user's behalf.
    pub async fn owner_of(&self, payment_id: &str) -> Result<String, PaymentError> {
        let mut conn = self.db.conn().await?;
        payments::find(&mut conn, payment_id)
            .await?
            .map(|payment| payment.user_id)
            .ok_or_else(|| PaymentError::PaymentNotFound(payment_id.to_owned()))
    }

    async fn find(&self, conn: &mut Conn, user_id: &str, id: &str) -> Result<PaymentRow, PaymentError> {
        payments::find(conn, id)
            .await?
            .filter(|p| p.user_id == user_id)
            .ok_or_else(|| PaymentError::PaymentNotFound(id.to_owned()))
    }

    async fn find_refund(
        &self,
        conn: &mut Conn,
        user_id: &str,
        refund_id: &str,
    ) -> Result<(RefundRow, PaymentRow), PaymentError> {
        let refund = refunds::find(conn, refund_id)
            .await?
            .ok_or_else(|| PaymentError::Unexpected(anyhow::anyhow!("refund {refund_id} of a known key is missing")))?;
        let payment = self.find(conn, user_id, &refund.payment_id).await?;
        Ok((refund, payment))
    }
}
