//! The checkout saga, orchestrated here (ARCHITECTURE.md, "Checkout saga"): check the session
//! with auth, reserve the stock (reservation id = checkout id), charge (idempotency key =
//! order id = checkout id), then commit the reservation and take the bought quantities out of
//! the cart — or release the stock on a decline. Every remote call has a deadline.
//!
//! The checkout id is derived from (user, Idempotency-Key), not stored only here: if Redis
//! forgets the checkout's record, a retry with the same key still names the same reservation
//! and the same charge, and product-service and payment-service (durable stores) answer it
//! with what they did the first time — never a second reservation or charge. How each path
//! ends durably: a sale (commit), or no sale and no money — a decline releases the stock, and
//! a charge whose reservation was released or expired is refunded by payment-service when
//! product announces the release (`ReservationReleased`), not by this request, so a crash
//! here cannot leave the money kept.
use crate::{
    error::CartError,
    proto::shop::{
        common::v1::Money,
        payment::v1::{ChargeRequest, GetPaymentRequest, OrderLine, Payment, PaymentMethod, PaymentStatus},
        product::v1::{ReleaseReservationRequest, Reservation, ReservationLine, ReservationState, ReserveStockRequest},
    },
    store::CartStore,
    upstream::{
        refusals::{self, ReservationRefused},
        OnBehalfOf, Upstream,
    },
};
use ring::digest::{digest, SHA256};
use std::time::Duration;

mod outcome;
mod record;
pub mod sale;

pub use outcome::{Amount, BoughtLine, Outcome, Summary};
use record::{alive_key, by_id_key, is_record_of, record_key, Ended, Record, RecordState};

/// A checkout in progress tells the other replicas it is alive: its replica writes a key that
/// expires this long after each beat. A retry of a checkout whose replica died (its beats
/// stopped) resumes it after at most this long, instead of hearing "in progress".
const LEASE: Duration = Duration::from_secs(6);
/// How often the replica running a checkout beats: three beats to a lease, so one slow Redis
/// round trip does not end a live checkout's lease.
const HEARTBEAT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Checkouts {
    store: CartStore,
    upstream: Upstream,
    record_ttl: Duration,
}

/// A checkout record as the run holding it last wrote it: the text its next save replaces.
struct Owned {
    key: String,
    record: Record,
    written: String,
}

/// Reads of a record that another request changed between the read and the claim, before the
/// request is told the checkout is in progress.
const CLAIM_TRIES: usize = 3;

/// Whether a save is the run's last: that one also removes the run's heartbeat.
enum LastSave {
    Yes,
    No,
}

/// How the shopper pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayWith {
    /// A card: the gateway's one-time token.
    Card { token: String },
    /// PayPal: the checkout answers 202 with PayPal's approval link.
    PayPal,
}

impl PayWith {
    /// What a retry with the same key must match: the card token's SHA-256 (as before PayPal
    /// existed, so records in flight across the upgrade still match), or PayPal.
    fn fingerprint(&self) -> String {
        let hashed = match self {
            PayWith::Card { token } => digest(&SHA256, token.as_bytes()),
            PayWith::PayPal => digest(&SHA256, b"shop.checkout.v1\npaypal"),
        };
        hashed.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub fn validate_key(key: Option<&str>) -> Result<String, CartError> {
    match key.map(str::trim) {
        Some(key) if !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(key.to_owned())
        }
        Some(_) => Err(CartError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters")),
        None => {
            Err(CartError::invalid("Idempotency-Key", "is required: a unique value per checkout, reused on retries"))
        }
    }
}

/// Stops the heartbeat when the checkout ends, also when its future is dropped (the client left).
struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    /// Resolves when the run no longer holds the lease: another run took the checkout over, or
    /// no beat was written for longer than the lease leaves room for.
    lost: tokio::sync::oneshot::Receiver<()>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The checkout id of (user, Idempotency-Key): the first 16 bytes of a SHA-256 of both, as a
/// UUID. The same key of the same user always names the same checkout, in every store.
pub fn checkout_id(user_id: &str, key: &str) -> String {
    let hash = digest(&SHA256, format!("shop.checkout.v1\n{user_id}\n{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Checkouts {
    pub fn new(store: CartStore, upstream: Upstream, record_ttl: Duration) -> Self {
        Self { store, upstream, record_ttl }
    }

    pub async fn checkout(
        &self,
        user_id: &str,
        token: &str,
        key: &str,
        pay_with: &PayWith,
    ) -> Result<Outcome, CartError> {
        if let PayWith::Card { token } = pay_with {
            if token.trim().is_empty() || token.len() > 255 {
                return Err(CartError::invalid("payment_token", "must be 1 to 255 characters"));
            }
        }
        match self.upstream.session_is_active(token).await {
            Ok(true) => {}
            Ok(false) => return Err(CartError::SessionRevoked),
            Err(error) => return Err(CartError::Unavailable(error)),
        }
        let fingerprint = pay_with.fingerprint();
        let checkout_id = checkout_id(user_id, key);
        let mut owned = match self.begin(&record_key(user_id, key), &checkout_id, &fingerprint).await? {
            Begun::Replay(done) => return self.replay(user_id, token, done).await,
            Begun::Run(owned) => owned,
        };
        // `GET /v1/cart/checkout/{id}` finds the record by the checkout's id.
        // Not fatal: the checkout goes on, the key's retries still answer where it stands.
        if let Err(error) = self.store.put(&by_id_key(&checkout_id), &owned.key, self.record_ttl).await {
            tracing::warn!(error = %error, "the checkout's id index was not written");
        }
        let mut heartbeat = self.beat(&owned.key, &owned.record.run);
        // A run that lost its lease stops where it is, as if its replica had died: another run
        // may be resuming the checkout, and every step is safe to cut (each is keyed by the
        // checkout id in product and payment).
        let outcome = tokio::select! {
            outcome = self.run(user_id, token, &mut owned, pay_with) => outcome,
            _ = &mut heartbeat.lost => Err(CartError::unavailable(anyhow::anyhow!("this run lost the checkout's lease"))),
        };
        drop(heartbeat);
        let record = &mut owned.record;
        record.updated_at = now();
        match &outcome {
            Ok(ended) => record.keep(Ended::Outcome(ended))?,
            // A decline is final: the same key answers it again and never charges again.
            Err(error @ CartError::PaymentDeclined { .. }) => record.keep(Ended::Declined(error))?,
            // Nothing was reserved, so nothing charged (product holds all lines or none): the
            // key may be used again, for the cart as it will be then.
            // The record stays, marked reusable, rather than being deleted: a run taken over
            // earlier can then not write its answer back over it (its save finds other text).
            Err(CartError::CartEmpty | CartError::LinesUnavailable(_) | CartError::OutOfStock(_)) => {
                *record = Record { state: RecordState::Reusable, lines: Vec::new(), ..record.clone() };
            }
            // Payment is still charging under this key for another run of the checkout: the
            // record stays in progress, and once this run's heartbeat lapses a retry resumes it
            // and gets the charge's outcome from payment.
            Err(CartError::CheckoutInProgress) => return outcome,
            // A dependency failed mid-way: a retry with the same key resumes this checkout.
            Err(_) => record.state = RecordState::Retryable,
        }
        if !self.save(&mut owned, LastSave::Yes).await? {
            // The record is another run's now: its answer is the one kept (payment and product
            // answer every run of one checkout alike, so the two agree but for a failure).
            tracing::info!("another run took the checkout over; its record stays");
        }
        outcome
    }

    /// Claims the record for a run of the checkout: a new one, or one whose last run ended
    /// without an answer (retryable) or died (in progress, no heartbeat). The claim replaces
    /// the text just read, so of two requests that read it one runs and the other, reading
    /// again, finds the checkout in progress.
    async fn begin(&self, record_key: &str, checkout_id: &str, fingerprint: &str) -> Result<Begun, CartError> {
        let run = uuid::Uuid::now_v7().to_string();
        let fresh = || Record {
            checkout_id: checkout_id.to_owned(),
            fingerprint: fingerprint.to_owned(),
            state: RecordState::InProgress,
            status: 0,
            body: serde_json::Value::Null,
            updated_at: now(),
            lines: Vec::new(),
            run: run.clone(),
        };
        for _ in 0..CLAIM_TRIES {
            let current = self.store.get(record_key).await?;
            let existing =
                current.as_deref().map(serde_json::from_str::<Record>).transpose().map_err(anyhow::Error::from)?;
            let resumed = match existing {
                None => None,
                Some(existing) => match existing.state {
                    RecordState::Reusable => None,
                    RecordState::Done | RecordState::InProgress | RecordState::Retryable
                        if existing.fingerprint != fingerprint =>
                    {
                        return Err(CartError::IdempotencyKeyReused)
                    }
                    RecordState::Done => {
                        let written = current.clone().unwrap_or_default();
                        return Ok(Begun::Replay(Owned { key: record_key.to_owned(), record: existing, written }));
                    }
                    RecordState::InProgress if self.alive(record_key).await? => {
                        return Err(CartError::CheckoutInProgress)
                    }
                    // Its run died (no heartbeat) or ended without an answer: this run resumes it.
                    RecordState::InProgress | RecordState::Retryable => {
                        Some(Record { state: RecordState::InProgress, updated_at: now(), run: run.clone(), ..existing })
                    }
                },
            };
            let record = match resumed {
                Some(record) => record,
                // A new checkout, or a key whose last run reserved nothing (any payment token):
                // unless a run of it still beats (its record lost with Redis, or it wrote the
                // reusable mark and has not stopped yet).
                None => {
                    if self.alive(record_key).await? {
                        return Err(CartError::CheckoutInProgress);
                    }
                    fresh()
                }
            };
            let text = serde_json::to_string(&record).map_err(anyhow::Error::from)?;
            let alive = alive_key(record_key);
            let beat = (alive.as_str(), run.as_str());
            if self.store.claim(record_key, beat, current.as_deref(), &text, self.record_ttl, LEASE).await? {
                return Ok(Begun::Run(Owned { key: record_key.to_owned(), record, written: text }));
            }
        }
        Err(CartError::CheckoutInProgress)
    }

    /// A done checkout's answer, again. One that ended `pending` asks payment where its charge
    /// stands now and answers as a first run that had heard it would: a charge that succeeded
    /// since finishes the sale (commit, cart settled) and answers 201, kept so that later
    /// retries need not ask; a decline answers 402, a refund 409. While payment does not
    /// answer, the kept `pending` stands.
    async fn replay(&self, user_id: &str, token: &str, mut done: Owned) -> Result<Outcome, CartError> {
        let summary = match done.record.replay()? {
            Outcome::Pending(summary) => summary,
            paid @ Outcome::Paid(_) => return Ok(paid),
        };
        let payment = match self.payment(token, &summary.payment_id).await {
            Ok(payment) => payment,
            Err(error) => {
                tracing::warn!(error = %error, "payment did not say where a pending checkout stands; answered as kept");
                return Ok(Outcome::Pending(summary));
            }
        };
        let refunded = payment.refunded.as_ref().is_some_and(|money| money.amount_minor > 0);
        let paid = match PaymentStatus::try_from(payment.status) {
            // The money kept in full: sell it as the first run would have (the PaymentSucceeded
            // consumer does the same; both are idempotent). A reservation gone meanwhile is the
            // first run's 409. Only a sale is kept in the record: nothing undoes it.
            Ok(PaymentStatus::Succeeded) if !refunded => {
                let bought: Vec<_> = summary.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
                self.complete(user_id, &summary.checkout_id, &bought, payment.amount).await?;
                Outcome::Paid(summary)
            }
            // Refunded in part or in full (by the compensation, or the shopper after a sale):
            // never sold from here, since product checks the amount charged, not what is left.
            Ok(PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded) => {
                return Err(CartError::Conflict(
                    "the payment for this checkout was refunded, in part or in full; see your orders".to_owned(),
                ))
            }
            // Declined, as a first run would answer; not kept, since a late success can still
            // revive the charge (payment then refunds it or it becomes the sale).
            Ok(PaymentStatus::Failed) => {
                self.release(&summary.checkout_id).await;
                return Err(CartError::PaymentDeclined {
                    code: payment.failure_code,
                    message: payment.failure_message,
                });
            }
            // Still waiting: with PayPal's link as payment has it now (learnt after a lost answer).
            Ok(PaymentStatus::Pending) => return Ok(Outcome::Pending(summary.awaiting(&payment.approval_url))),
            Ok(PaymentStatus::Unspecified) | Err(_) => return Ok(Outcome::Pending(summary)),
        };
        done.record.keep(Ended::Outcome(&paid))?;
        done.record.updated_at = now();
        if !self.save(&mut done, LastSave::No).await? {
            tracing::info!("the checkout's record changed meanwhile; it stays as it is");
        }
        Ok(paid)
    }

    /// Where the user's checkout `checkout_id` stands: running, or how it ended — a done one as
    /// a retry with its key would answer now (a pending one asks payment, and a sale since is
    /// finished here as the retry would).
    pub async fn standing(&self, user_id: &str, token: &str, checkout_id: &str) -> Result<Standing, CartError> {
        let not_found = || CartError::CheckoutNotFound(checkout_id.to_owned());
        if !crate::domain::is_uuid(checkout_id) {
            return Err(not_found());
        }
        let record_key = self.store.get(&by_id_key(checkout_id)).await?.ok_or_else(not_found)?;
        // Another user's checkout is not found, like one that never was.
        if !is_record_of(&record_key, user_id) {
            return Err(not_found());
        }
        // The heartbeat before the record: a run that ends in between is read as done, never as
        // interrupted.
        let alive = self.alive(&record_key).await?;
        let written = self.store.get(&record_key).await?.ok_or_else(not_found)?;
        let record = serde_json::from_str::<Record>(&written).map_err(anyhow::Error::from)?;
        if record.checkout_id != checkout_id {
            return Err(not_found());
        }
        match record.state {
            RecordState::InProgress if alive => Ok(Standing::InProgress),
            // A step failed, or the replica running it died: nothing goes on until a retry.
            RecordState::InProgress | RecordState::Retryable => Ok(Standing::Interrupted),
            // Its last run reserved nothing: no checkout took place under it.
            RecordState::Reusable => Err(not_found()),
            RecordState::Done => {
                let done = Owned { key: record_key, record, written };
                Ok(Standing::Ended(self.replay(user_id, token, done).await))
            }
        }
    }

    /// The payment as payment-service has it now, read as the shopper.
    async fn payment(&self, token: &str, payment_id: &str) -> Result<Payment, CartError> {
        let shopper = OnBehalfOf::new(token).ok_or(CartError::Unauthenticated)?;
        let read = GetPaymentRequest { payment_id: payment_id.to_owned() };
        let answer = self
            .upstream
            .payment
            .call(|mut c| {
                let request = shopper.request(read.clone());
                async move { c.get_payment(request).await }
            })
            .await
            .map_err(|status| CartError::unavailable(anyhow::anyhow!("payment-service: {status}")))?;
        answer.payment.ok_or_else(|| anyhow::anyhow!("GetPayment without a payment").into())
    }

    /// Beats for the checkout under `record_key` until the returned guard is dropped.
    fn beat(&self, record_key: &str, run: &str) -> Heartbeat {
        let (store, alive, run) = (self.store.clone(), alive_key(record_key), run.to_owned());
        let (lose, lost) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut last_beat = tokio::time::Instant::now();
            loop {
                match store.beat(&alive, &run, LEASE).await {
                    Ok(true) => last_beat = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::warn!("another run took the checkout over; this one stops");
                        let _ = lose.send(());
                        return;
                    }
                    Err(error) => tracing::warn!(error = %error, "the checkout's heartbeat was not written"),
                }
                // Past this, the lease may lapse before the next beat lands: stop first.
                if last_beat.elapsed() + HEARTBEAT >= LEASE {
                    tracing::warn!("the checkout's heartbeat could not be written for too long; this run stops");
                    let _ = lose.send(());
                    return;
                }
                tokio::time::sleep(HEARTBEAT).await;
            }
        });
        Heartbeat { task, lost }
    }

    /// Whether the replica running a checkout still beats. The claim set the first beat with
    /// the record, so there is no moment between the two, and no replica's clock is read.
    async fn alive(&self, record_key: &str) -> Result<bool, CartError> {
        Ok(self.store.get(&alive_key(record_key)).await?.is_some())
    }

    /// Writes the record over the text this run last wrote; `false` when another run took it
    /// over since (its text is there). Keeps the record's expiry: it counts from the
    /// checkout's start, like payment's keys, so retries cannot keep a key alive longer than
    /// the stores behind it remember it. A run's last save also removes its heartbeat, in the
    /// same script: a retry of a retryable or reusable record need not wait out the lease.
    async fn save(&self, owned: &mut Owned, ended: LastSave) -> Result<bool, CartError> {
        let text = serde_json::to_string(&owned.record).map_err(anyhow::Error::from)?;
        let alive = matches!(ended, LastSave::Yes).then(|| alive_key(&owned.key));
        let release = alive.as_deref().map(|alive| (alive, owned.record.run.as_str()));
        let saved = self.store.replace(&owned.key, &owned.written, &text, release, self.record_ttl).await?;
        if saved {
            owned.written = text;
        }
        Ok(saved)
    }

    /// The saga, from where the record says it stands: fix the lines, reserve them, charge, and
    /// end as a sale, a decline or a charge the gateway has not decided. Each step is keyed by
    /// the checkout id in product and payment, so a run resumed after any of them repeats nothing.
    async fn run(
        &self,
        user_id: &str,
        token: &str,
        owned: &mut Owned,
        pay_with: &PayWith,
    ) -> Result<Outcome, CartError> {
        let unavailable = self.fix_lines(user_id, owned).await?;
        let record = &owned.record;
        let checkout_id = record.checkout_id.as_str();
        let reservation = self.reserve(checkout_id, &record.lines, &unavailable).await?;
        let paid = self.charge(checkout_id, token, pay_with, &reservation).await?;
        self.end(user_id, checkout_id, &reservation, paid).await
    }

    /// On a checkout's first run, reads the cart's lines into the record and saves it before
    /// anything is reserved, so a retry after a crash resumes these lines. Returns the names of
    /// lines the cart shows unavailable: product is asked anyway, since the flag may be this very
    /// checkout's own reservation (its record lost with Redis) or merely stale; only product's
    /// refusal makes them a 409.
    async fn fix_lines(&self, user_id: &str, owned: &mut Owned) -> Result<Vec<String>, CartError> {
        if !owned.record.lines.is_empty() {
            return Ok(Vec::new());
        }
        let lines = self.store.lines(user_id).await?;
        if lines.is_empty() {
            return Err(CartError::CartEmpty);
        }
        let unavailable = lines.iter().filter(|l| !l.available).map(|l| l.name.clone()).collect();
        owned.record.lines = lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
        if !self.save(owned, LastSave::No).await? {
            return Err(CartError::CheckoutInProgress); // another run took it over: it goes on
        }
        Ok(unavailable)
    }

    /// Holds the stock of every line or none (reservation id = checkout id); a repeat returns the
    /// reservation as it stands, which must still hold the stock.
    async fn reserve(
        &self,
        checkout_id: &str,
        lines: &[(String, i64)],
        unavailable: &[String],
    ) -> Result<Reservation, CartError> {
        let request = ReserveStockRequest {
            reservation_id: checkout_id.to_owned(),
            lines: lines
                .iter()
                .map(|(product_id, quantity)| ReservationLine { product_id: product_id.clone(), quantity: *quantity })
                .collect(),
        };
        let reservation =
            match self.upstream.product.send(&request, |mut c, r| async move { c.reserve_stock(r).await }).await {
                Ok(response) => {
                    response.reservation.ok_or_else(|| anyhow::anyhow!("ReserveStock without a reservation"))?
                }
                Err(status) => return Err(refusals::reserve_refused(status, unavailable)),
            };
        match ReservationState::try_from(reservation.state) {
            Ok(ReservationState::Reserved | ReservationState::Committed) => Ok(reservation),
            // Released or expired before this run came back to it (a retry after its expiry), or
            // a state this build does not know.
            Ok(ReservationState::Released | ReservationState::Expired | ReservationState::Unspecified) | Err(_) => {
                Err(CartError::reservation_expired())
            }
        }
    }

    /// Charges the reservation's total as the shopper (idempotency key = order id = checkout
    /// id). A refusal that leaves nothing charged gives the stock back now.
    async fn charge(
        &self,
        checkout_id: &str,
        token: &str,
        pay_with: &PayWith,
        reservation: &Reservation,
    ) -> Result<Payment, CartError> {
        let (payment_method, payment_token) = match pay_with {
            PayWith::Card { token } => (PaymentMethod::Card, token.clone()),
            PayWith::PayPal => (PaymentMethod::Paypal, String::new()),
        };
        let charge = ChargeRequest {
            idempotency_key: checkout_id.to_owned(),
            order_id: checkout_id.to_owned(),
            amount: Some(reservation.total.clone().unwrap_or_default()),
            payment_token,
            payment_method: payment_method as i32,
            lines: reservation
                .lines
                .iter()
                .map(|l| OrderLine {
                    product_id: l.product_id.clone(),
                    name: l.name.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price.clone(),
                })
                .collect(),
        };
        let shopper = OnBehalfOf::new(token).ok_or(CartError::Unauthenticated)?;
        match self
            .upstream
            .payment
            .call(|mut c| {
                let request = shopper.request(charge.clone());
                async move { c.charge(request).await }
            })
            .await
        {
            Ok(response) => Ok(response.payment.ok_or_else(|| anyhow::anyhow!("Charge without a payment"))?),
            Err(status) => {
                let refused = refusals::charge_refused(status);
                if refused.release_stock {
                    self.release(checkout_id).await;
                }
                Err(refused.error)
            }
        }
    }

    /// What the payment's status makes of the checkout: a sale (201), a decline (the stock back,
    /// 402), or a charge the gateway has not decided (202; the PaymentSucceeded event finishes it).
    async fn end(
        &self,
        user_id: &str,
        checkout_id: &str,
        reservation: &Reservation,
        paid: Payment,
    ) -> Result<Outcome, CartError> {
        let summary = || Summary::of(checkout_id, &paid.payment_id, reservation);
        match PaymentStatus::try_from(paid.status) {
            Ok(PaymentStatus::Succeeded) => {
                let bought: Vec<_> = reservation.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
                self.complete(user_id, checkout_id, &bought, paid.amount.clone()).await?;
                Ok(Outcome::Paid(summary()))
            }
            Ok(PaymentStatus::Failed) => {
                self.release(checkout_id).await;
                Err(CartError::PaymentDeclined { code: paid.failure_code, message: paid.failure_message })
            }
            Ok(PaymentStatus::Pending) => Ok(Outcome::Pending(summary().awaiting(&paid.approval_url))),
            // A replayed charge refunded since (its reservation went first), or a status this
            // build does not know: answered as pending, as it always was. Telling the shopper
            // where such a checkout stands is open work (issue 36, item 5).
            Ok(PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded | PaymentStatus::Unspecified) | Err(_) => {
                Ok(Outcome::Pending(summary()))
            }
        }
    }

    /// After a successful charge: commit the reservation (a sale) and take the bought
    /// quantities out of the cart. A reservation that expired before the charge cannot be
    /// committed: product has announced its release, and payment-service refunds the charge
    /// for it (durably, whatever happens to this request); the shopper is told.
    /// `paid` is what payment says it took: product sells only for the reservation's total.
    async fn complete(
        &self,
        user_id: &str,
        checkout_id: &str,
        bought: &[(String, i64)],
        paid: Option<Money>,
    ) -> Result<(), CartError> {
        let sale = match sale::commit(&self.upstream, checkout_id, paid).await {
            Ok(sale) => sale,
            Err(ReservationRefused::PaymentMismatch) => {
                tracing::error!(checkout_id, "product refused the payment's amount; nothing was sold");
                return Err(CartError::Conflict(
                    "the payment did not match the reservation's total: nothing was sold, and the payment is \
                     refunded when the reservation expires"
                        .to_owned(),
                ));
            }
            Err(ReservationRefused::Closed) => {
                return Err(CartError::Conflict(
                    "the stock was no longer held when the payment went through; the payment is refunded in full"
                        .to_owned(),
                ));
            }
            // It reserved this very checkout: product lost it, or answers for another store.
            Err(ReservationRefused::NotFound) => {
                return Err(CartError::unavailable(anyhow::anyhow!(
                    "product-service: the checkout's reservation {checkout_id} is unknown"
                )))
            }
            Err(ReservationRefused::Outage(outage)) => return Err(outage.into()),
        };
        sale.settle_cart(&self.store, user_id, bought).await
    }

    /// Gives the stock back; a failure is logged, the reservation's expiry does it anyway.
    async fn release(&self, checkout_id: &str) {
        let request = ReleaseReservationRequest { reservation_id: checkout_id.to_owned() };
        if let Err(status) =
            self.upstream.product.send(&request, |mut c, r| async move { c.release_reservation(r).await }).await
        {
            tracing::warn!(checkout_id, error = %status, "releasing the reservation failed; it will expire");
        }
    }
}

/// Where a checkout stands (`Checkouts::standing`).
#[derive(Debug)]
pub enum Standing {
    /// A request is running it.
    InProgress,
    /// A step failed (a service did not answer) or its replica died: a retry with its key
    /// resumes it; until then its stock stays held until the reservation expires.
    Interrupted,
    /// Ended: paid, or still pending (with PayPal's approval link while the buyer has to
    /// approve); or how it ended without a sale (a decline, a refund).
    Ended(Result<Outcome, CartError>),
}

enum Begun {
    Run(Owned),
    /// A done record: its ending answers again (`Checkouts::replay`).
    Replay(Owned),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_key_always_names_the_same_checkout_and_no_other() {
        let user = "0196f3c0-0000-7000-8000-000000000001";
        let id = checkout_id(user, "key-1");
        assert_eq!(id, checkout_id(user, "key-1"), "deterministic: a lost record finds the same checkout");
        assert!(crate::domain::is_uuid(&id));
        assert_ne!(id, checkout_id(user, "key-2"));
        assert_ne!(id, checkout_id("0196f3c0-0000-7000-8000-000000000002", "key-1"));
    }

    #[test]
    fn the_idempotency_key_is_required_and_bounded() {
        assert_eq!(validate_key(Some("abc-123")).unwrap(), "abc-123");
        assert!(validate_key(None).is_err());
        assert!(validate_key(Some("")).is_err());
        assert!(validate_key(Some(&"k".repeat(256))).is_err());
        assert!(validate_key(Some("with space")).is_err());
    }
}
