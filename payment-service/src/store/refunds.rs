//! Refunds of (part of) a payment.
use super::Conn;
use crate::{domain::RefundStatus, error::PaymentError, schema::refunds};
use chrono::NaiveDateTime;
use diesel::{deserialize, mysql::Mysql, prelude::*, sql_types::Text};
use diesel_async::RunQueryDsl;

/// The `status` column's text as the domain's status: a name no code writes fails the read.
impl Queryable<Text, Mysql> for RefundStatus {
    type Row = String;

    fn build(name: String) -> deserialize::Result<Self> {
        RefundStatus::parse(&name).ok_or_else(|| format!("{name:?} is not a refund status").into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub status: RefundStatus,
    /// The gateway's id of the refund, once it answered with one.
    pub gateway_reference: Option<String>,
    pub created_at: NaiveDateTime,
    /// `operator:<admin user id>` for a support refund (the audit trail); None otherwise.
    pub requested_by: Option<String>,
}

pub async fn insert(conn: &mut Conn, refund: &RefundRow, now: NaiveDateTime) -> Result<(), PaymentError> {
    diesel::insert_into(refunds::table)
        .values((
            refunds::id.eq(&refund.id),
            refunds::payment_id.eq(&refund.payment_id),
            refunds::amount_minor.eq(refund.amount_minor),
            refunds::currency.eq(&refund.currency),
            refunds::reason.eq(&refund.reason),
            refunds::status.eq(refund.status.as_str()),
            refunds::next_attempt_at.eq(Some(now)),
            refunds::created_at.eq(refund.created_at),
            refunds::updated_at.eq(now),
            refunds::requested_by.eq(&refund.requested_by),
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
    status: RefundStatus,
    reference: Option<&str>,
    failure_code: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let changed = diesel::update(refunds::table.find(id).filter(refunds::status.eq(RefundStatus::Pending.as_str())))
        .set((
            refunds::status.eq(status.as_str()),
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
    diesel::update(refunds::table.find(id).filter(refunds::status.eq(RefundStatus::Pending.as_str())))
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
        .filter(refunds::status.eq(RefundStatus::Pending.as_str()))
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

/// What the gateway has really given back for a payment: its succeeded refunds, not those
/// still in flight.
pub async fn succeeded_total(conn: &mut Conn, payment_id: &str) -> Result<i64, PaymentError> {
    let amounts: Vec<i64> = refunds::table
        .filter(refunds::payment_id.eq(payment_id))
        .filter(refunds::status.eq(RefundStatus::Succeeded.as_str()))
        .select(refunds::amount_minor)
        .load(conn)
        .await?;
    Ok(amounts.iter().sum())
}

/// The gateway's reference of a refund: set once the gateway accepted it (even as pending).
pub async fn reference(conn: &mut Conn, id: &str) -> Result<Option<String>, PaymentError> {
    Ok(refunds::table.find(id).select(refunds::gateway_reference).first(conn).await.optional()?.flatten())
}

pub async fn find_by_reference(conn: &mut Conn, reference: &str) -> Result<Option<RefundRow>, PaymentError> {
    Ok(refunds::table
        .filter(refunds::gateway_reference.eq(reference))
        .select(RefundRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Keeps a refund the gateway accepted as pending, with its reference (so that it is looked
/// up from now on, never created again), and when to ask again.
pub async fn defer_accepted(
    conn: &mut Conn,
    id: &str,
    reference: &str,
    next_attempt_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    diesel::update(refunds::table.find(id).filter(refunds::status.eq(RefundStatus::Pending.as_str())))
        .set((
            refunds::gateway_reference.eq(reference),
            refunds::next_attempt_at.eq(Some(next_attempt_at)),
            refunds::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Fails a pending refund the gateway refused, unless the gateway had already accepted it
/// under another reference: an accepted refund fails only by the gateway saying that this
/// refund (its own reference) failed. `false` when nothing changed.
pub async fn settle_refused(
    conn: &mut Conn,
    id: &str,
    reference: Option<&str>,
    failure_code: &str,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let target = refunds::table.find(id).filter(refunds::status.eq(RefundStatus::Pending.as_str()));
    let changes = (
        refunds::status.eq(RefundStatus::Failed.as_str()),
        refunds::gateway_reference.eq(reference),
        refunds::failure_code.eq(failure_code),
        refunds::next_attempt_at.eq(None::<NaiveDateTime>),
        refunds::updated_at.eq(now),
    );
    let changed = match reference {
        Some(reference) => {
            let unaccepted_or_this = refunds::gateway_reference.is_null().or(refunds::gateway_reference.eq(reference));
            diesel::update(target.filter(unaccepted_or_this)).set(changes).execute(conn).await?
        }
        None => diesel::update(target.filter(refunds::gateway_reference.is_null())).set(changes).execute(conn).await?,
    };
    Ok(changed == 1)
}

/// Stops the reconciler asking about a pending refund (it stays pending, its amount reserved):
/// for one the gateway never answered whose idempotency key is about to expire, where a
/// repeat could refund a second time. A webhook or an operator settles it.
pub async fn park(conn: &mut Conn, id: &str, now: NaiveDateTime) -> Result<(), PaymentError> {
    diesel::update(refunds::table.find(id).filter(refunds::status.eq(RefundStatus::Pending.as_str())))
        .set((refunds::next_attempt_at.eq(None::<NaiveDateTime>), refunds::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(())
}

/// How many of the platform's own refunds of the payment with `reason` the gateway refused or
/// failed (an operator's support refund may be given any reason: it is not counted).
pub async fn refused_with_reason(conn: &mut Conn, payment_id: &str, reason: &str) -> Result<i64, PaymentError> {
    Ok(refunds::table
        .filter(refunds::payment_id.eq(payment_id))
        .filter(refunds::reason.eq(reason))
        .filter(refunds::requested_by.is_null())
        .filter(refunds::status.eq(RefundStatus::Failed.as_str()))
        .count()
        .get_result(conn)
        .await?)
}
