//! Public catalogue reads: filtered listing with keyset pagination, one product, categories.
use crate::{
    db::Db,
    error::ProductError,
    store::{self, products::ProductRow},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use uuid::Uuid;

pub use store::catalogue::Category;

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
        let mut conn = self.db.conn().await?;
        // One more than asked for tells whether a next page exists.
        let mut rows = store::catalogue::page(&mut conn, filter, after, page_size + 1).await?;
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
        store::products::find(&mut conn, id)
            .await?
            .filter(|p| p.active)
            .ok_or_else(|| ProductError::ProductNotFound(id.to_string()))
    }

    /// The active products among `ids` (in no particular order).
    pub async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<ProductRow>, ProductError> {
        let mut conn = self.db.conn().await?;
        let found = store::products::find_many(&mut conn, ids).await?;
        Ok(found.into_iter().filter(|p| p.active).collect())
    }

    pub async fn categories(&self) -> Result<Vec<Category>, ProductError> {
        let mut conn = self.db.conn().await?;
        store::catalogue::categories(&mut conn).await
    }
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
}
