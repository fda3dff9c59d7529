//! Refunds of (part of) a payment.
use super::Conn;
use crate::{error::PaymentError, schema::refunds};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub async fn insert(conn: &mut Conn, refund: &RefundRow, now: NaiveDateTime) -> Result<(), PaymentError> {
    diesel::insert_into(refunds::table)
        .values((
            refunds::id.eq(&refund.id),
            refunds::payment_id.eq(&refund.payment_id),
            refunds::amount_minor.eq(refund.amount_minor),
            refunds::currency.eq(&refund.currency),
            refunds::reason.eq(&refund.reason),
            refunds::status.eq(&refund.status),
            refunds::next_attempt_at.eq(Some(now)),
            refunds::created_at.eq(refund.created_at),
            refunds::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: &str) -> Result<Option<RefundRow>, PaymentError> {
    Ok(refunds::table.find(id).select(RefundRow::as_select()).first(conn).await.optional()?)
}

/// The final state of a pending refund; `false` when it was no longer pending.
pub async fn settle(
    conn: &mut Conn,
    id: &str,
    status: &str,
    reference: Option<&str>,
    failure_code: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let changed = diesel::update(refunds::table.find(id).filter(refunds::status.eq(PENDING)))
        .set((
            refunds::status.eq(status),
            refunds::gateway_reference.eq(reference),
            refunds::failure_code.eq(failure_code),
            refunds::next_attempt_at.eq(None::<NaiveDateTime>),
            refunds::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(changed == 1)
}

pub async fn defer(conn: &mut Conn, id: &str, next_attempt_at: NaiveDateTime) -> Result<(), PaymentError> {
    diesel::update(refunds::table.find(id).filter(refunds::status.eq(PENDING)))
        .set(refunds::next_attempt_at.eq(next_attempt_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims pending refunds due for another attempt (see `payments::claim_due`).
pub async fn claim_due(
    conn: &mut Conn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<RefundRow>, PaymentError> {
    let due: Vec<RefundRow> = refunds::table
        .filter(refunds::status.eq(PENDING))
        .filter(refunds::next_attempt_at.le(now))
        .order(refunds::next_attempt_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(RefundRow::as_select())
        .load(conn)
        .await?;
    let ids: Vec<&str> = due.iter().map(|r| r.id.as_str()).collect();
    if !ids.is_empty() {
        diesel::update(refunds::table.filter(refunds::id.eq_any(&ids)))
            .set(refunds::next_attempt_at.eq(lease_until))
            .execute(conn)
            .await?;
    }
    Ok(due)
}
