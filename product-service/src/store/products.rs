//! Products and their stock. Stock moves only through conditional single-row updates, so
//! concurrent reservations serialise on the row and the `reserved <= on_hand` constraint
//! holds under any interleaving.
use super::{prepared_once::PreparedOnce, Conn};
use crate::{error::ProductError, schema::products};
use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub attributes: serde_json::Value,
    pub active: bool,
    pub on_hand: i64,
    pub reserved: i64,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl ProductRow {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(Insertable)]
#[diesel(table_name = products)]
pub struct NewProduct<'a> {
    pub id: Uuid,
    pub sku: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub category_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: &'a str,
    pub attributes: serde_json::Value,
    pub on_hand: i64,
}

/// A product's stock right after a change, with what a reservation line records.
#[derive(Debug, QueryableByName)]
pub struct StockRow {
    #[diesel(sql_type = sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = sql_types::Int8)]
    pub price_minor: i64,
    #[diesel(sql_type = sql_types::Text)]
    pub currency: String,
    #[diesel(sql_type = sql_types::Int8)]
    pub on_hand: i64,
    #[diesel(sql_type = sql_types::Int8)]
    pub reserved: i64,
    #[diesel(sql_type = sql_types::Int8)]
    pub version: i64,
}

impl StockRow {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

const RETURNING_STOCK: &str = "RETURNING id, name, price_minor, currency, on_hand, reserved, version";

/// Adds a product; `false` (and nothing written) when its SKU is taken.
pub async fn insert(conn: &mut Conn, product: NewProduct<'_>) -> Result<bool, ProductError> {
    let inserted = diesel::insert_into(products::table)
        .values(product)
        .on_conflict(products::sku)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Locks these products until the transaction ends, one after the other by id: two
/// transactions that lock their rows in the same order never each hold a row the other waits
/// for (a deadlock, which PostgreSQL ends by failing one of them).
pub async fn lock_in_order(conn: &mut Conn, ids: &[Uuid]) -> Result<(), ProductError> {
    products::table
        .filter(products::id.eq_any(ids))
        .order(products::id)
        .for_update()
        .select(products::id)
        .load::<Uuid>(conn)
        .await?;
    Ok(())
}

/// The product, locked until the transaction ends: read-check-write without lost updates.
pub async fn lock(conn: &mut Conn, id: Uuid) -> Result<Option<ProductRow>, ProductError> {
    Ok(products::table.find(id).for_update().select(ProductRow::as_select()).first(conn).await.optional()?)
}

/// What an admin may change about a product (stock has its own path).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = products, treat_none_as_null = true)]
pub struct Details {
    pub name: String,
    pub description: String,
    pub category_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub attributes: serde_json::Value,
    pub active: bool,
}

impl From<&ProductRow> for Details {
    fn from(p: &ProductRow) -> Self {
        Self {
            name: p.name.clone(),
            description: p.description.clone(),
            category_id: p.category_id,
            price_minor: p.price_minor,
            currency: p.currency.clone(),
            attributes: p.attributes.clone(),
            active: p.active,
        }
    }
}

/// Writes `details` and moves the version on.
pub async fn update_details(conn: &mut Conn, id: Uuid, details: &Details) -> Result<ProductRow, ProductError> {
    Ok(diesel::update(products::table.find(id))
        .set((details, products::version.eq(products::version + 1), products::updated_at.eq(diesel::dsl::now)))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Names the reason of the stock changes the rest of the transaction makes, for the stock
/// ledger's trigger (migration 000003): evaluated in the statement's FROM, before its rows change.
const STOCK_REASON_ADJUSTMENT: &str = "(SELECT set_config('product.stock_reason', 'adjustment', true)) AS reason";
const STOCK_REASON_SALE: &str = "(SELECT set_config('product.stock_reason', 'sale', true)) AS reason";

/// Runs one of the stock `UPDATE`s below (`$1` the product, `$2` a quantity, the stock
/// returned), kept prepared on the connection: its text is fixed (ADR 26).
async fn update_stock(conn: &mut Conn, sql: String, id: Uuid, quantity: i64) -> QueryResult<StockRow> {
    let update = diesel::sql_query(sql).bind::<sql_types::Uuid, _>(id).bind::<sql_types::Int8, _>(quantity);
    PreparedOnce(update).get_result(conn).await
}

/// Sets the stock on hand (the caller checked it covers what is reserved): an adjustment.
pub async fn set_on_hand(conn: &mut Conn, id: Uuid, on_hand: i64) -> Result<StockRow, ProductError> {
    Ok(update_stock(
        conn,
        format!(
            "UPDATE products SET on_hand = $2, version = version + 1, updated_at = now()
             FROM {STOCK_REASON_ADJUSTMENT} WHERE id = $1 {RETURNING_STOCK}"
        ),
        id,
        on_hand,
    )
    .await?)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<ProductRow>, ProductError> {
    Ok(products::table.find(id).select(ProductRow::as_select()).first(conn).await.optional()?)
}

pub async fn find_many(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<ProductRow>, ProductError> {
    Ok(products::table.filter(products::id.eq_any(ids)).select(ProductRow::as_select()).load(conn).await?)
}

/// Holds `quantity` units of an active product if that many are available; `None` otherwise.
pub async fn reserve(conn: &mut Conn, id: Uuid, quantity: i64) -> Result<Option<StockRow>, ProductError> {
    Ok(update_stock(
        conn,
        format!(
            "UPDATE products SET reserved = reserved + $2, version = version + 1, updated_at = now()
             WHERE id = $1 AND active AND on_hand - reserved >= $2 {RETURNING_STOCK}"
        ),
        id,
        quantity,
    )
    .await
    .optional()?)
}

/// Gives held units back.
pub async fn unreserve(conn: &mut Conn, id: Uuid, quantity: i64) -> Result<StockRow, ProductError> {
    Ok(update_stock(
        conn,
        format!(
            "UPDATE products SET reserved = reserved - $2, version = version + 1, updated_at = now()
             WHERE id = $1 {RETURNING_STOCK}"
        ),
        id,
        quantity,
    )
    .await?)
}

/// Turns held units into a sale: they leave the stock on hand.
pub async fn sell(conn: &mut Conn, id: Uuid, quantity: i64) -> Result<StockRow, ProductError> {
    Ok(update_stock(
        conn,
        format!(
            "UPDATE products SET on_hand = on_hand - $2, reserved = reserved - $2, version = version + 1,
             updated_at = now() FROM {STOCK_REASON_SALE} WHERE id = $1 {RETURNING_STOCK}"
        ),
        id,
        quantity,
    )
    .await?)
}
