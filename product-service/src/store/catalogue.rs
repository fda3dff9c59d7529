//! The public catalogue's reads: the filtered listing (keyset pagination by id) and categories.
use super::{products::ProductRow, Conn};
use crate::{
    catalogue::Filter,
    error::ProductError,
    schema::{categories, products},
};
use diesel::{pg::Pg, prelude::*, PgJsonbExpressionMethods, PgTextExpressionMethods};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = categories)]
pub struct Category {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// Up to `limit` active products matching `filter`, in id order, after `after` when given.
pub async fn page(
    conn: &mut Conn,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ProductRow>, ProductError> {
    let mut query = products::table.filter(products::active).into_boxed::<Pg>();
    if let Some(after) = after {
        query = query.filter(products::id.gt(after));
    }
    if let Some(category) = filter.category {
        query = query.filter(products::category_id.eq(category));
    }
    if let Some(text) = &filter.text {
        query = query.filter(products::name.ilike(format!("%{}%", escape_like(text))));
    }
    if let Some(min) = filter.min_price_minor {
        query = query.filter(products::price_minor.ge(min));
    }
    if let Some(max) = filter.max_price_minor {
        query = query.filter(products::price_minor.le(max));
    }
    if filter.in_stock {
        query = query.filter(products::on_hand.gt(products::reserved));
    }
    for (key, value) in &filter.attributes {
        query = query.filter(products::attributes.contains(serde_json::json!({ key: value })));
    }
    Ok(query.order(products::id).limit(limit).select(ProductRow::as_select()).load(conn).await?)
}

pub async fn categories(conn: &mut Conn) -> Result<Vec<Category>, ProductError> {
    Ok(categories::table.order(categories::name).select(Category::as_select()).load(conn).await?)
}

pub async fn category_exists(conn: &mut Conn, id: Uuid) -> Result<bool, ProductError> {
    let found: i64 = categories::table.find(id).count().get_result(conn).await?;
    Ok(found > 0)
}

/// Makes `%`, `_` and `\` in user text match themselves in a LIKE pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_user_text_are_literal() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
