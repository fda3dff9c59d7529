//! Stock reservations for checkouts: reserve (all lines or none), commit (a sale), release,
//! and expiry of reservations never committed. Every call is idempotent by reservation id,
//! and each stock change writes its events in the same transaction.
use crate::{
    cache::Committed,
    db::Db,
    domain::{ReservationId, ReservationLines, ReservationState},
    error::ProductError,
    events::{outbox, stock, types},
    proto::shop::{common::v1::Money, events::v1::ReservationReleased},
    store::{
        self, products,
        reservations::{self, LineRow, ReservationRow},
        Conn,
    },
};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: String,
    pub state: ReservationState,
    pub lines: Vec<LineRow>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Reservations {
    db: Db,
    ttl: Duration,
    events_topic: String,
    /// Wakes the relay after each write (stock movements leave the read cache to its TTL).
    committed: Committed,
}

impl Reservations {
    pub fn new(db: Db, ttl: Duration, events_topic: String, committed: Committed) -> Self {
        Self { db, ttl, events_topic, committed }
    }

    /// Holds every line or none. A repeat with the same id returns the first outcome.
    pub async fn reserve(&self, id: &ReservationId, lines: ReservationLines) -> Result<Reservation, ProductError> {
        let id = id.as_str();
        let expires_at = Utc::now() + chrono::Duration::from_std(self.ttl).map_err(anyhow::Error::from)?;
        let topic = &self.events_topic;
        let mut conn = self.db.conn().await?;
        let reservation = store::transaction::<_, ProductError, _>(&mut conn, |conn| {
            async move {
                if !reservations::create(conn, id, expires_at).await? {
                    let existing = reservations::find_for_update(conn, id).await?;
                    let existing = existing.ok_or_else(|| ProductError::ReservationNotFound(id.to_owned()))?;
                    return view(conn, existing).await;
                }
                let mut held = Vec::with_capacity(lines.len());
                let mut short = Vec::new();
                for (product_id, quantity) in lines.iter() {
                    match products::reserve(conn, *product_id, *quantity).await? {
                        Some(stock) => held.push((stock, *quantity)),
                        None => short.push(*product_id),
                    }
                }
                if !short.is_empty() {
                    let known = products::find_many(conn, &short).await?;
                    if let Some(missing) = short.iter().find(|id| !known.iter().any(|p| p.id == **id && p.active)) {
                        return Err(ProductError::ProductNotFound(missing.to_string()));
                    }
                    return Err(ProductError::OutOfStock(short.iter().map(Uuid::to_string).collect()));
                }
                let rows: Vec<LineRow> = held
                    .iter()
                    .map(|(stock, quantity)| LineRow {
                        reservation_id: id.to_owned(),
                        product_id: stock.id,
                        quantity: *quantity,
                        name: stock.name.clone(),
                        price_minor: stock.price_minor,
                        currency: stock.currency.clone(),
                    })
                    .collect();
                reservations::add_lines(conn, &rows).await?;
                for (stock, quantity) in &held {
                    stock::record(conn, topic, stock, stock.available() + quantity).await?;
                }
                Ok(Reservation { id: id.to_owned(), state: ReservationState::Reserved, lines: rows, expires_at })
            }
            .scope_boxed()
        })
        .await?;
        self.committed.stock_moved();
        Ok(reservation)
    }

    /// Sells the reservation, for `paid` only when that is its total: a payment for less
    /// (or in another currency) buys nothing. Repeating it changes nothing; a released or
    /// expired reservation cannot be committed.
    pub async fn commit(&self, id: &ReservationId, paid: &Money) -> Result<Reservation, ProductError> {
        self.transition(id.as_str(), Transition::Commit(paid)).await
    }

    /// Gives the reserved stock back. Repeating it changes nothing; a committed reservation
    /// cannot be released.
    pub async fn release(&self, id: &ReservationId) -> Result<Reservation, ProductError> {
        self.transition(id.as_str(), Transition::Release).await
    }

    /// The reservation as it stands, with its lines.
    pub async fn get(&self, id: &ReservationId) -> Result<Reservation, ProductError> {
        let mut conn = self.db.conn().await?;
        let row = reservations::find(&mut conn, id.as_str()).await?;
        let row = row.ok_or_else(|| ProductError::ReservationNotFound(id.as_str().to_owned()))?;
        view(&mut conn, row).await
    }

    /// Expires up to `limit` reservations past their deadline; returns how many.
    pub async fn expire_due(&self, limit: i64) -> Result<usize, ProductError> {
        let topic = &self.events_topic;
        let mut conn = self.db.conn().await?;
        let expired = store::transaction::<_, ProductError, _>(&mut conn, |conn| {
            async move {
                let ids = reservations::claim_expired(conn, limit).await?;
                // Replicas expire batches at the same time, each over products the other's
                // batch may hold too: every batch takes its products' rows in one order first
                // (each reservation's own lines are in that order already, not a whole batch's).
                let touched = reservations::products_of(conn, &ids).await?;
                products::lock_in_order(conn, &touched).await?;
                for id in &ids {
                    give_back(conn, topic, id, ReservationState::Expired).await?;
                }
                Ok(ids.len())
            }
            .scope_boxed()
        })
        .await?;
        if expired > 0 {
            self.committed.stock_moved();
            tracing::info!(expired, "expired reservations returned their stock");
        }
        Ok(expired)
    }

    async fn transition(&self, id: &str, transition: Transition<'_>) -> Result<Reservation, ProductError> {
        let topic = &self.events_topic;
        let mut conn = self.db.conn().await?;
        // The outcome travels inside Ok so that an expiry done on the way commits.
        let outcome = store::transaction::<_, ProductError, _>(&mut conn, |conn| {
            async move {
                let row = reservations::find_for_update(conn, id).await?;
                let mut row = row.ok_or_else(|| ProductError::ReservationNotFound(id.to_owned()))?;
                if row.state == ReservationState::Reserved && row.expires_at <= Utc::now() {
                    give_back(conn, topic, id, ReservationState::Expired).await?;
                    row.state = ReservationState::Expired;
                }
                let lines = reservations::lines(conn, id).await?;
                let outcome = match (transition, row.state) {
                    (Transition::Commit(paid), ReservationState::Reserved | ReservationState::Committed)
                        if !pays_for(paid, &lines) =>
                    {
                        Err(ProductError::PaymentMismatch { paid: show(paid), total: show(&total(&lines)) })
                    }
                    (Transition::Commit(_), ReservationState::Reserved) => {
                        for line in &lines {
                            let stock = products::sell(conn, line.product_id, line.quantity).await?;
                            stock::record(conn, topic, &stock, stock.available()).await?;
                        }
                        reservations::set_state(conn, id, ReservationState::Committed).await?;
                        row.state = ReservationState::Committed;
                        Ok(())
                    }
                    (Transition::Release, ReservationState::Reserved) => {
                        give_back(conn, topic, id, ReservationState::Released).await?;
                        row.state = ReservationState::Released;
                        Ok(())
                    }
                    // Repeats: what was asked is done already.
                    (Transition::Commit(_), ReservationState::Committed)
                    | (Transition::Release, ReservationState::Released | ReservationState::Expired) => Ok(()),
                    // A sale after the stock went back, or giving back what was sold.
                    (Transition::Commit(_), state @ (ReservationState::Released | ReservationState::Expired))
                    | (Transition::Release, state @ ReservationState::Committed) => {
                        Err(ProductError::ReservationClosed(state.as_str()))
                    }
                };
                // A transition changes the state and the stock, never the lines read above.
                Ok(outcome.map(|()| view_of(row, lines)))
            }
            .scope_boxed()
        })
        .await?;
        self.committed.stock_moved();
        outcome
    }
}

#[derive(Clone, Copy)]
enum Transition<'a> {
    /// With what the payment took.
    Commit(&'a Money),
    Release,
}

async fn view(conn: &mut Conn, row: ReservationRow) -> Result<Reservation, ProductError> {
    let lines = reservations::lines(conn, &row.id).await?;
    Ok(view_of(row, lines))
}

fn view_of(row: ReservationRow, lines: Vec<LineRow>) -> Reservation {
    Reservation { state: row.state, id: row.id, lines, expires_at: row.expires_at }
}

/// Returns a reservation's stock and marks it `state` (released or expired), announcing that
/// this checkout will never be a sale: payment-service refunds whatever was (or will be)
/// charged for it. Written in the same transaction, so a commit can never follow it.
async fn give_back(conn: &mut Conn, topic: &str, id: &str, state: ReservationState) -> Result<(), ProductError> {
    for line in reservations::lines(conn, id).await? {
        let stock = products::unreserve(conn, line.product_id, line.quantity).await?;
        stock::record(conn, topic, &stock, stock.available() - line.quantity).await?;
    }
    reservations::set_state(conn, id, state).await?;
    let event = ReservationReleased {
        reservation_id: id.to_owned(),
        reason: state.as_str().to_owned(),
        released_at: Some(std::time::SystemTime::now().into()),
    };
    outbox::enqueue(conn, topic, id, types::RESERVATION_RELEASED, &event).await?;
    Ok(())
}

/// A line's price as contract money.
pub fn line_price(line: &LineRow) -> Money {
    Money { amount_minor: line.price_minor, currency: line.currency.clone() }
}

/// What the reservation costs, at the prices it was made at (one currency: the catalogue's).
pub fn total(lines: &[LineRow]) -> Money {
    let amount_minor = lines.iter().map(|l| l.price_minor.saturating_mul(l.quantity)).fold(0, i64::saturating_add);
    Money { amount_minor, currency: lines.first().map(|l| l.currency.clone()).unwrap_or_default() }
}

fn pays_for(paid: &Money, lines: &[LineRow]) -> bool {
    let total = total(lines);
    paid.amount_minor == total.amount_minor
        && paid.currency == total.currency
        && lines.iter().all(|l| l.currency == total.currency)
}

fn show(money: &Money) -> String {
    format!("{} {} minor units", money.currency, money.amount_minor)
}

/// The expiry's name in `background_task_runs_total{task}`.
pub const EXPIRY_TASK: &str = "reservation_expiry";

/// Expires due reservations every `interval` until `stop` turns true, counting each round in
/// `metrics`. Safe with several replicas: each claims rows with SKIP LOCKED.
pub async fn expire_periodically(
    reservations: Reservations,
    interval: Duration,
    metrics: crate::metrics::Metrics,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let round = reservations.expire_due(100).await;
        metrics.background_round(EXPIRY_TASK, round.is_ok());
        match round {
            // A full batch: more may be due, go on at once.
            Ok(100) => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "expiring reservations"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}
