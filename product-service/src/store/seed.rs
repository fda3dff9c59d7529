//! The demo catalogue's writes: categories by slug and products by SKU, each only once.
use super::Conn;
use crate::{
    error::ProductError,
    schema::{categories, products},
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// Creates the category unless one with this slug exists; true when created.
pub async fn add_category(conn: &mut Conn, slug: &str, name: &str) -> Result<bool, ProductError> {
    let inserted = diesel::insert_into(categories::table)
        .values((categories::id.eq(Uuid::now_v7()), categories::slug.eq(slug), categories::name.eq(name)))
        .on_conflict(categories::slug)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

pub async fn sku_exists(conn: &mut Conn, sku: &str) -> Result<bool, ProductError> {
    let count: i64 = products::table.filter(products::sku.eq(sku)).count().get_result(conn).await?;
    Ok(count > 0)
}

/// The id of the category with this slug (the seed file names its categories by slug).
pub async fn category_id(conn: &mut Conn, slug: &str) -> Result<Uuid, ProductError> {
    Ok(categories::table.filter(categories::slug.eq(slug)).select(categories::id).first(conn).await?)
}
