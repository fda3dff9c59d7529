//! Payments. Status moves only forward: pending → succeeded | failed, succeeded →
//! partially_refunded → refunded; every settle is conditional on the status it expects, so a
//! webhook and the reconciler racing for the same payment settle it once.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{domain::PaymentStatus, error::PaymentError, schema::payments};
use chrono::NaiveDateTime;
use diesel::{deserialize, mysql::Mysql, prelude::*, sql_types::Text};
use diesel_async::RunQueryDsl;

/// The `status` column's text as the domain's status: a name no code writes fails the read,
/// instead of passing for some status.
impl Queryable<Text, Mysql> for PaymentStatus {
    type Row = String;

    fn build(name: String) -> deserialize::Result<Self> {
        PaymentStatus::parse(&name).ok_or_else(|| format!("{name:?} is not a payment status").into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments)]
pub struct PaymentRow {
    pub id: String,
    pub user_id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_minor: i64,
    pub status: PaymentStatus,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    pub payment_token: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub order_lines: String,
    /// Gateway attempts that gave no answer (the reconciler's backoff).
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// PayPal's page where the buyer approves, while the payment waits for that.
    pub approval_url: Option<String>,
    /// The PayPal-Request-Id of the last capture sent for it.
    pub capture_request_id: Option<String>,
}

/// `None` is inserted as NULL, which is these columns' default: one SQL text for every payment,
/// which diesel keeps prepared (it writes `DEFAULT` for a `None` otherwise, and prepares anew).
#[derive(Insertable)]
#[diesel(table_name = payments, treat_none_as_default_value = false)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub order_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub status: &'static str,
    pub gateway: &'a str,
    pub payment_token: Option<&'a str>,
    pub order_lines: String,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts a pending payment. A second live payment for the same order (a concurrent charge
/// under another key, or by another user) is refused by the unique key: `RequestInProgress`, so
/// the caller retries and is answered with the first (or, another user, refused).
pub async fn insert(conn: &mut Conn, payment: NewPayment<'_>) -> Result<(), PaymentError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match diesel::insert_into(payments::table).values(payment).execute(conn).await {
        Ok(_) => Ok(()),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
            if info.message().contains("payments_live_order") =>
        {
            Err(PaymentError::RequestInProgress)
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn find(conn: &mut Conn, id: &str) -> Result<Option<PaymentRow>, PaymentError> {
    Ok(payments::table.find(id).select(PaymentRow::as_select()).first(conn).await.optional()?)
}

pub async fn lock(conn: &mut Conn, id: &str) -> Result<Option<PaymentRow>, PaymentError> {
    Ok(payments::table.find(id).for_update().select(PaymentRow::as_select()).first(conn).await.optional()?)
}

pub async fn find_by_reference(conn: &mut Conn, reference: &str) -> Result<Option<String>, PaymentError> {
    Ok(payments::table
        .filter(payments::gateway_reference.eq(reference))
        .select(payments::id)
        .first(conn)
        .await
        .optional()?)
}

/// A user's payments, newest first (ids are UUIDv7), after `before` when given.
pub async fn page(
    conn: &mut Conn,
    user_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<PaymentRow>, PaymentError> {
    let mut query = payments::table.filter(payments::user_id.eq(user_id)).into_boxed();
    if let Some(before) = before {
        query = query.filter(payments::id.lt(before.to_owned()));
    }
    Ok(query.order(payments::id.desc()).limit(limit).select(PaymentRow::as_select()).load(conn).await?)
}

/// The final state of a pending payment; `false` when it was no longer pending.
pub async fn settle(
    conn: &mut Conn,
    id: &str,
    status: PaymentStatus,
    reference: Option<&str>,
    failure: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let update = diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Pending.as_str())))
        .set((
            payments::status.eq(status.as_str()),
            payments::gateway_reference.eq(reference),
            payments::failure_code.eq(failure.map(|f| f.0)),
            payments::failure_message.eq(failure.map(|f| f.1)),
            // Settled: the token and the approval link are of no further use and are not kept.
            payments::payment_token.eq(None::<String>),
            payments::approval_url.eq(None::<String>),
            payments::next_attempt_at.eq(None::<NaiveDateTime>),
            // A success's sale is unconfirmed from now until the sweeper hears of it (sweeper.rs),
            // set here rather than by a second statement: a pending payment has no mark to keep.
            payments::sale_check_at.eq((status == PaymentStatus::Succeeded).then_some(now)),
            payments::updated_at.eq(now),
        ));
    // Every field is set, `None` as NULL: one SQL text, kept prepared (a charge's settlement).
    let changed = PreparedOnce(update).execute(conn).await?;
    Ok(changed == 1)
}

/// Books a failed payment succeeded after all, as a late success: the gateway reported the
/// money taken for a charge this service had recorded declined. `false` when it was not failed.
pub async fn revive_failed(
    conn: &mut Conn,
    id: &str,
    reference: &str,
    now: NaiveDateTime,
) -> Result<bool, PaymentError> {
    let changed = diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Failed.as_str())))
        .set((
            payments::status.eq(PaymentStatus::Succeeded.as_str()),
            payments::late_success.eq(true),
            payments::gateway_reference.eq(reference),
            payments::failure_code.eq(None::<String>),
            payments::failure_message.eq(None::<String>),
            payments::payment_token.eq(None::<String>),
            payments::next_attempt_at.eq(None::<NaiveDateTime>),
            payments::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(changed == 1)
}

/// Keeps a payment pending, with the gateway's reference when it gave one, and when to ask
/// again (`None`: wait for the gateway's webhook).
pub async fn defer(
    conn: &mut Conn,
    id: &str,
    reference: Option<&str>,
    next_attempt_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Pending.as_str())))
        .set((
            payments::gateway_reference.eq(reference),
            payments::next_attempt_at.eq(next_attempt_at),
            payments::attempts.eq(payments::attempts + 1),
            payments::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps a payment pending while the buyer approves it at `approval_url` (PayPal's order
/// `reference`), and when to look at the order again.
pub async fn await_approval(
    conn: &mut Conn,
    id: &str,
    reference: &str,
    approval_url: &str,
    next_attempt_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Pending.as_str())))
        .set((
            payments::gateway_reference.eq(reference),
            payments::approval_url.eq(approval_url),
            payments::next_attempt_at.eq(next_attempt_at),
            payments::attempts.eq(payments::attempts + 1),
            payments::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the capture about to be sent (its PayPal-Request-Id), before it is sent.
pub async fn capture_sent(conn: &mut Conn, id: &str, request_id: &str) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Pending.as_str())))
        .set(payments::capture_request_id.eq(request_id))
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes a pending payment due for the reconciler now (a verified approval, a released order).
pub async fn due_now(conn: &mut Conn, id: &str, now: NaiveDateTime) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Pending.as_str())))
        .set(payments::next_attempt_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` pending payments due for another gateway attempt, pushing their next
/// attempt to `lease_until` so that no other replica takes them meanwhile.
pub async fn claim_due(
    conn: &mut Conn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<PaymentRow>, PaymentError> {
    let due: Vec<PaymentRow> = payments::table
        .filter(payments::status.eq(PaymentStatus::Pending.as_str()))
        .filter(payments::next_attempt_at.le(now))
        .order(payments::next_attempt_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(PaymentRow::as_select())
        .load(conn)
        .await?;
    let ids: Vec<&str> = due.iter().map(|p| p.id.as_str()).collect();
    if !ids.is_empty() {
        diesel::update(payments::table.filter(payments::id.eq_any(&ids)))
            .set(payments::next_attempt_at.eq(lease_until))
            .execute(conn)
            .await?;
    }
    Ok(due)
}

/// Paid orders whose sale has gone unconfirmed since `due_before` or longer, for the sweeper,
/// leased to this replica by moving their mark to `leased_to` (SKIP LOCKED: replicas never take
/// the same one).
pub async fn claim_sale_checks(
    conn: &mut Conn,
    due_before: NaiveDateTime,
    leased_to: NaiveDateTime,
    limit: i64,
) -> Result<Vec<PaymentRow>, PaymentError> {
    let due: Vec<PaymentRow> = payments::table
        .filter(payments::sale_check_at.le(due_before))
        .order(payments::sale_check_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(PaymentRow::as_select())
        .load(conn)
        .await?;
    let ids: Vec<&str> = due.iter().map(|p| p.id.as_str()).collect();
    if !ids.is_empty() {
        diesel::update(payments::table.filter(payments::id.eq_any(&ids)))
            .set(payments::sale_check_at.eq(leased_to))
            .execute(conn)
            .await?;
    }
    Ok(due)
}

/// Since when the payment's sale counts as unconfirmed; `None`: it is settled (sold or refunded).
pub async fn check_sale_at(conn: &mut Conn, id: &str, at: Option<NaiveDateTime>) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id)).set(payments::sale_check_at.eq(at)).execute(conn).await?;
    Ok(())
}

/// Moves `amount` of the payment into refunds in flight (the caller locked it and checked).
pub async fn add_refunded(conn: &mut Conn, id: &str, amount: i64, now: NaiveDateTime) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id))
        .set((payments::refunded_minor.eq(payments::refunded_minor + amount), payments::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_status(
    conn: &mut Conn,
    id: &str,
    status: PaymentStatus,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id))
        .set((payments::status.eq(status.as_str()), payments::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Every user's payments for `order_id`, locked.
pub async fn lock_for_order(conn: &mut Conn, order_id: &str) -> Result<Vec<PaymentRow>, PaymentError> {
    Ok(payments::table
        .filter(payments::order_id.eq(order_id))
        .for_update()
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}

/// Keeps a pending payment pending and asks again at `next_attempt_at`, leaving the gateway's
/// reference as it is: a look-up that got no answer must not make the reconciler forget that
/// the gateway accepted the charge (it would repeat the charge instead of asking about it).
pub async fn retry_later(
    conn: &mut Conn,
    id: &str,
    next_attempt_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    diesel::update(payments::table.find(id).filter(payments::status.eq(PaymentStatus::Pending.as_str())))
        .set((
            payments::next_attempt_at.eq(Some(next_attempt_at)),
            payments::attempts.eq(payments::attempts + 1),
            payments::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// How long the oldest payment still pending has been, in seconds (0 when none is).
#[derive(diesel::QueryableByName)]
struct OldestPending {
    #[diesel(sql_type = diesel::sql_types::Double)]
    age_seconds: f64,
}

/// The oldest pending payment's age. This service writes `created_at` in UTC, so the age is
/// taken against the database's `UTC_TIMESTAMP(6)`, whatever its session's time zone.
pub async fn oldest_pending_age(conn: &mut Conn) -> Result<f64, PaymentError> {
    let oldest: OldestPending = diesel::sql_query(
        "SELECT CAST(COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)), 0) / 1000000 AS DOUBLE) \
           AS age_seconds \
         FROM payments WHERE status = ?",
    )
    .bind::<Text, _>(PaymentStatus::Pending.as_str())
    .get_result(conn)
    .await?;
    Ok(oldest.age_seconds)
}
