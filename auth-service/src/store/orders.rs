//! Each user's order history, projected from payment events.
use super::Conn;
use crate::{error::AuthError, schema::orders};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub payment_id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_minor: i64,
    pub lines: serde_json::Value,
    pub paid_at: DateTime<Utc>,
}

pub struct NewOrder<'a> {
    pub payment_id: &'a str,
    pub user_id: Uuid,
    pub order_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub lines: serde_json::Value,
    pub paid_at: DateTime<Utc>,
}

/// Newest first.
pub async fn list(conn: &mut Conn, user_id: Uuid, limit: i64) -> Result<Vec<OrderRow>, AuthError> {
    Ok(orders::table
        .filter(orders::user_id.eq(user_id))
        .order((orders::paid_at.desc(), orders::payment_id.desc()))
        .limit(limit)
        .select(OrderRow::as_select())
        .load(conn)
        .await?)
}

/// Records a paid order; a second record of the same payment changes nothing.
pub async fn record_paid(conn: &mut Conn, order: NewOrder<'_>) -> Result<(), AuthError> {
    diesel::insert_into(orders::table)
        .values((
            orders::payment_id.eq(order.payment_id),
            orders::user_id.eq(order.user_id),
            orders::order_id.eq(order.order_id),
            orders::amount_minor.eq(order.amount_minor),
            orders::currency.eq(order.currency),
            orders::lines.eq(order.lines),
            orders::paid_at.eq(order.paid_at),
        ))
        .on_conflict(orders::payment_id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the refunded total; events carry the running total, so the larger one wins whatever
/// order refunds arrive in.
pub async fn record_refund(conn: &mut Conn, payment_id: &str, total_refunded_minor: i64) -> Result<(), AuthError> {
    diesel::update(orders::table.find(payment_id).filter(orders::refunded_minor.lt(total_refunded_minor)))
        .set(orders::refunded_minor.eq(total_refunded_minor))
        .execute(conn)
        .await?;
    Ok(())
}
