//! Public catalogue reads: filtered listing with keyset pagination, one product, categories.
use crate::{
    db::Db,
    error::ProductError,
    schema::{categories, products},
    store::products::ProductRow,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use diesel::{pg::Pg, prelude::*, PgJsonbExpressionMethods, PgTextExpressionMethods};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;

/// What a listing may be narrowed by; every field is already validated.
#[derive(Debug, Default)]
pub struct Filter {
    pub category: Option<Uuid>,
    /// Matched case-insensitively anywhere in the name.
    pub text: Option<String>,
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    pub in_stock: bool,
    /// `attributes @> {key: value}` for every pair.
    pub attributes: Vec<(String, serde_json::Value)>,
}

pub struct Page {
    pub products: Vec<ProductRow>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = categories)]
pub struct Category {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// The position after which the next page starts. Opaque to clients: base64url of the last
/// product id, so the order (by id: UUIDv7, creation order) is stable, and a product inserted
/// while a client pages neither repeats nor hides one it has not reached.
pub fn encode_token(last: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

pub fn decode_token(token: &str) -> Result<Uuid, ProductError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ProductError::invalid("page_token", "is not a token this service issued"))
}

#[derive(Clone)]
pub struct Catalogue {
    db: Db,
}

impl Catalogue {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn list(&self, filter: &Filter, page_size: i64, after: Option<Uuid>) -> Result<Page, ProductError> {
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
        let mut conn = self.db.conn().await?;
        // One more than asked for tells whether a next page exists.
        let mut rows: Vec<ProductRow> =
            query.order(products::id).limit(page_size + 1).select(ProductRow::as_select()).load(&mut conn).await?;
        let next_page_token = if rows.len() as i64 > page_size {
            rows.truncate(page_size as usize);
            rows.last().map(|p| encode_token(p.id))
        } else {
            None
        };
        Ok(Page { products: rows, next_page_token })
    }

    pub async fn get(&self, id: Uuid) -> Result<ProductRow, ProductError> {
        let mut conn = self.db.conn().await?;
        crate::store::products::find(&mut conn, id)
            .await?
            .filter(|p| p.active)
            .ok_or_else(|| ProductError::ProductNotFound(id.to_string()))
    }

    /// The active products among `ids` (in no particular order).
    pub async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<ProductRow>, ProductError> {
        let mut conn = self.db.conn().await?;
        let found = crate::store::products::find_many(&mut conn, ids).await?;
        Ok(found.into_iter().filter(|p| p.active).collect())
    }

    pub async fn categories(&self) -> Result<Vec<Category>, ProductError> {
        let mut conn = self.db.conn().await?;
        Ok(categories::table.order(categories::name).select(Category::as_select()).load(&mut conn).await?)
    }
}

/// Makes `%`, `_` and `\` in user text match themselves in a LIKE pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_token(&encode_token(id)).unwrap(), id);
        assert!(decode_token("not a token").is_err());
        assert!(decode_token(&URL_SAFE_NO_PAD.encode(b"short")).is_err());
    }

    #[test]
    fn like_wildcards_in_user_text_are_literal() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
