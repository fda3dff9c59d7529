//! Reservations and their lines.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{
    domain::ReservationState,
    error::ProductError,
    schema::{reservation_lines, reservations},
};
use chrono::{DateTime, Utc};
use diesel::{deserialize, pg::Pg, prelude::*, sql_types::Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reservations)]
pub struct ReservationRow {
    pub id: String,
    pub state: ReservationState,
    pub expires_at: DateTime<Utc>,
}

/// The `state` column's text as the domain's state: a name the CHECK constraint never lets in
/// fails the read, instead of passing for some state.
impl Queryable<Text, Pg> for ReservationState {
    type Row = String;

    fn build(name: String) -> deserialize::Result<Self> {
        ReservationState::parse(&name).ok_or_else(|| format!("{name:?} is not a reservation state").into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reservation_lines)]
pub struct LineRow {
    pub reservation_id: String,
    pub product_id: Uuid,
    pub quantity: i64,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
}

/// Creates the reservation unless one with this id exists; true when created.
pub async fn create(conn: &mut Conn, id: &str, expires_at: DateTime<Utc>) -> Result<bool, ProductError> {
    let inserted = diesel::insert_into(reservations::table)
        .values((
            reservations::id.eq(id),
            reservations::state.eq(ReservationState::Reserved.as_str()),
            reservations::expires_at.eq(expires_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The reservation, as committed now.
pub async fn find(conn: &mut Conn, id: &str) -> Result<Option<ReservationRow>, ProductError> {
    Ok(reservations::table.find(id).select(ReservationRow::as_select()).first(conn).await.optional()?)
}

/// The reservation, locked for the rest of the transaction.
pub async fn find_for_update(conn: &mut Conn, id: &str) -> Result<Option<ReservationRow>, ProductError> {
    Ok(reservations::table.find(id).select(ReservationRow::as_select()).for_update().first(conn).await.optional()?)
}

/// The products the lines of these reservations hold, each once, by id.
pub async fn products_of(conn: &mut Conn, ids: &[String]) -> Result<Vec<Uuid>, ProductError> {
    Ok(reservation_lines::table
        .filter(reservation_lines::reservation_id.eq_any(ids))
        .select(reservation_lines::product_id)
        .distinct()
        .order(reservation_lines::product_id)
        .load(conn)
        .await?)
}

pub async fn lines(conn: &mut Conn, id: &str) -> Result<Vec<LineRow>, ProductError> {
    Ok(reservation_lines::table
        .filter(reservation_lines::reservation_id.eq(id))
        .order(reservation_lines::product_id)
        .select(LineRow::as_select())
        .load(conn)
        .await?)
}

pub async fn add_lines(conn: &mut Conn, lines: &[LineRow]) -> Result<(), ProductError> {
    diesel::insert_into(reservation_lines::table).values(lines).execute(conn).await?;
    Ok(())
}

pub async fn set_state(conn: &mut Conn, id: &str, state: ReservationState) -> Result<(), ProductError> {
    let update = diesel::update(reservations::table.find(id))
        .set((reservations::state.eq(state.as_str()), reservations::updated_at.eq(diesel::dsl::now)));
    PreparedOnce(update).execute(conn).await?;
    Ok(())
}

/// Ids of reservations past their expiry, locked; rows another replica holds are skipped, so
/// several replicas can expire concurrently without doing the same work.
pub async fn claim_expired(conn: &mut Conn, limit: i64) -> Result<Vec<String>, ProductError> {
    Ok(reservations::table
        .filter(reservations::state.eq(ReservationState::Reserved.as_str()))
        .filter(reservations::expires_at.lt(diesel::dsl::now))
        .order(reservations::expires_at)
        .limit(limit)
        .select(reservations::id)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?)
}
