//! Catalogue administration: create, update, soft-delete products and set their stock.
//! Every write checks the version the admin last read (optimistic concurrency: two admins
//! editing the same product cannot silently overwrite each other) and writes its events in
//! the same transaction.
use crate::{
    cache::Committed,
    currency,
    db::Db,
    error::ProductError,
    events::{outbox, stock, types},
    proto::shop::{
        common::v1::Money,
        events::v1::{ProductCreated, ProductUpdated},
    },
    store::{
        self,
        products::{self, Details, NewProduct, ProductRow},
        Conn,
    },
};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// Largest stock on hand a product may have: far beyond any shop, far below overflow.
pub const MAX_ON_HAND: i64 = 1_000_000_000;
/// Largest price in minor units (ten million in a two-decimal currency).
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 5_000;
const MAX_ATTRIBUTES: usize = 50;

/// Which version of a product a write was based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// One of these versions (`If-Match` may list several).
    Versions(Vec<i64>),
    /// Whatever the current version is (`If-Match: *`, or a write that does not ask).
    Any,
}

impl Expected {
    fn check(&self, current: i64) -> Result<(), ProductError> {
        match self {
            Self::Versions(versions) if !versions.contains(&current) => Err(ProductError::VersionMismatch { current }),
            _ => Ok(()),
        }
    }
}

/// A new product, validated.
#[derive(Debug, Clone)]
pub struct Draft {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub attributes: serde_json::Value,
    pub on_hand: i64,
}

/// Changes to a product's details; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the product from its category.
    pub category_id: Option<Option<Uuid>>,
    pub price: Option<(i64, String)>,
    pub attributes: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// The stock on hand becomes this.
    Set(i64),
    /// The stock on hand moves by this (a delivery, a count correction).
    Adjust(i64),
}

pub fn validate_sku(sku: &str) -> Result<(), ProductError> {
    let valid = (1..=64).contains(&sku.len()) && sku.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    valid.then_some(()).ok_or_else(|| ProductError::invalid("sku", "must be 1 to 64 letters, digits, '-', '_' or '.'"))
}

pub fn validate_name(name: &str) -> Result<(), ProductError> {
    let length = name.trim().chars().count();
    if length == 0 || length > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ProductError::invalid("name", format!("must be 1 to {MAX_NAME_CHARS} printable characters")));
    }
    Ok(())
}

pub fn validate_description(description: &str) -> Result<(), ProductError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ProductError::invalid("description", format!("is longer than {MAX_DESCRIPTION_CHARS} characters")));
    }
    if description.contains('\0') {
        return Err(ProductError::invalid("description", "may not contain NUL characters"));
    }
    Ok(())
}

/// Whether a JSON value holds a NUL character in any string or key: PostgreSQL's text and
/// JSONB refuse it, so it is the caller's mistake to report, not a failed query.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A price: 0 to `MAX_PRICE_MINOR` minor units in an ISO 4217 currency.
pub fn validate_price(amount_minor: i64, currency_code: &str) -> Result<(), ProductError> {
    if !(0..=MAX_PRICE_MINOR).contains(&amount_minor) {
        return Err(ProductError::invalid("price.amount_minor", format!("must be 0 to {MAX_PRICE_MINOR} minor units")));
    }
    if !currency::is_known(currency_code) {
        return Err(ProductError::invalid(
            "price.currency",
            format!("{currency_code:?} is not an ISO 4217 currency code"),
        ));
    }
    Ok(())
}

/// Attributes: a JSON object of at most 50 entries (filters match on its values).
pub fn validate_attributes(attributes: &serde_json::Value) -> Result<(), ProductError> {
    if holds_nul(attributes) {
        return Err(ProductError::invalid("attributes", "may not contain NUL characters"));
    }
    match attributes.as_object() {
        Some(map) if map.len() <= MAX_ATTRIBUTES && map.keys().all(|k| (1..=64).contains(&k.len())) => Ok(()),
        _ => Err(ProductError::invalid(
            "attributes",
            format!("must be an object of at most {MAX_ATTRIBUTES} entries with names of 1 to 64 bytes"),
        )),
    }
}

pub fn validate_stock(on_hand: i64) -> Result<(), ProductError> {
    if !(0..=MAX_ON_HAND).contains(&on_hand) {
        return Err(ProductError::invalid("stock", format!("must be 0 to {MAX_ON_HAND}")));
    }
    Ok(())
}

#[derive(Clone)]
pub struct Admin {
    db: Db,
    events_topic: String,
    /// Clears cached reads and wakes the relay after each write.
    committed: Committed,
}

impl Admin {
    pub fn new(db: Db, events_topic: String, committed: Committed) -> Self {
        Self { db, events_topic, committed }
    }

    pub async fn create(&self, draft: Draft) -> Result<ProductRow, ProductError> {
        let topic = &self.events_topic;
        let mut conn = self.db.conn().await?;
        let product = store::transaction::<_, ProductError, _>(&mut conn, |conn| {
            async move {
                if let Some(category) = draft.category_id {
                    ensure_category(conn, category).await?;
                }
                let id = Uuid::now_v7();
                let new = NewProduct {
                    id,
                    sku: &draft.sku,
                    name: &draft.name,
                    description: &draft.description,
                    category_id: draft.category_id,
                    price_minor: draft.price_minor,
                    currency: &draft.currency,
                    attributes: draft.attributes.clone(),
                    on_hand: draft.on_hand,
                };
                if !products::insert(conn, new).await? {
                    return Err(ProductError::SkuTaken(draft.sku.clone()));
                }
                let product = products::find(conn, id).await?.ok_or_else(|| {
                    ProductError::Unexpected(anyhow::anyhow!("product {id} vanished inside its own transaction"))
                })?;
                record_created(conn, topic, &product).await?;
                Ok(product)
            }
            .scope_boxed()
        })
        .await?;
        self.committed.product_changed();
        Ok(product)
    }

    pub async fn update(&self, id: Uuid, expected: Expected, changes: Changes) -> Result<ProductRow, ProductError> {
        self.write_details(id, expected, move |details| {
            let Changes { name, description, category_id, price, attributes } = changes;
            details.name = name.unwrap_or(std::mem::take(&mut details.name));
            details.description = description.unwrap_or(std::mem::take(&mut details.description));
            details.category_id = category_id.unwrap_or(details.category_id);
            if let Some((amount_minor, currency)) = price {
                details.price_minor = amount_minor;
                details.currency = currency;
            }
            details.attributes = attributes.unwrap_or(std::mem::take(&mut details.attributes));
        })
        .await
    }

    /// Takes the product out of the catalogue. Its row stays: reservations and orders refer to
    /// it, and the id is never reused.
    pub async fn delete(&self, id: Uuid, expected: Expected) -> Result<(), ProductError> {
        self.write_details(id, expected, |details| details.active = false).await.map(|_| ())
    }

    pub async fn change_stock(
        &self,
        id: Uuid,
        expected: Expected,
        change: StockChange,
    ) -> Result<ProductRow, ProductError> {
        let topic = &self.events_topic;
        let mut conn = self.db.conn().await?;
        let product = store::transaction::<_, ProductError, _>(&mut conn, |conn| {
            async move {
                let current = lock_active(conn, id).await?;
                expected.check(current.version)?;
                let on_hand = match change {
                    StockChange::Set(on_hand) => on_hand,
                    StockChange::Adjust(delta) => current.on_hand.saturating_add(delta),
                };
                validate_stock(on_hand)?;
                if on_hand < current.reserved {
                    return Err(ProductError::StockBelowReserved { reserved: current.reserved });
                }
                if on_hand == current.on_hand {
                    return Ok(current);
                }
                let changed = products::set_on_hand(conn, id, on_hand).await?;
                stock::record(conn, topic, &changed, current.available()).await?;
                products::find(conn, id).await?.ok_or_else(|| ProductError::ProductNotFound(id.to_string()))
            }
            .scope_boxed()
        })
        .await?;
        self.committed.product_changed();
        Ok(product)
    }

    /// Locks the product, checks the version, applies `change` to its details and writes
    /// them, with a `ProductUpdated` event when what consumers keep (name, price, whether it
    /// is sold) changed.
    async fn write_details(
        &self,
        id: Uuid,
        expected: Expected,
        change: impl FnOnce(&mut Details) + Send,
    ) -> Result<ProductRow, ProductError> {
        let topic = &self.events_topic;
        let mut conn = self.db.conn().await?;
        let product = store::transaction::<_, ProductError, _>(&mut conn, |conn| {
            async move {
                let current = lock_active(conn, id).await?;
                expected.check(current.version)?;
                let mut details = Details::from(&current);
                change(&mut details);
                if let Some(category) = details.category_id.filter(|c| Some(*c) != current.category_id) {
                    ensure_category(conn, category).await?;
                }
                let updated = products::update_details(conn, id, &details).await?;
                let seen_by_consumers_changed = updated.name != current.name
                    || updated.price_minor != current.price_minor
                    || updated.currency != current.currency
                    || updated.active != current.active;
                if seen_by_consumers_changed {
                    record_updated(conn, topic, &updated).await?;
                }
                Ok(updated)
            }
            .scope_boxed()
        })
        .await?;
        self.committed.product_changed();
        Ok(product)
    }
}

async fn lock_active(conn: &mut Conn, id: Uuid) -> Result<ProductRow, ProductError> {
    products::lock(conn, id).await?.filter(|p| p.active).ok_or_else(|| ProductError::ProductNotFound(id.to_string()))
}

async fn ensure_category(conn: &mut Conn, id: Uuid) -> Result<(), ProductError> {
    if !store::catalogue::category_exists(conn, id).await? {
        return Err(ProductError::invalid("category_id", format!("no category has the id {id}")));
    }
    Ok(())
}

fn money(product: &ProductRow) -> Money {
    Money { amount_minor: product.price_minor, currency: product.currency.clone() }
}

/// `ProductCreated` for a product just inserted (by an admin or the seed command).
pub async fn record_created(conn: &mut Conn, topic: &str, product: &ProductRow) -> Result<(), ProductError> {
    let event = ProductCreated {
        product_id: product.id.to_string(),
        sku: product.sku.clone(),
        name: product.name.clone(),
        category_id: product.category_id.map(|c| c.to_string()).unwrap_or_default(),
        price: Some(money(product)),
        available: product.available(),
        version: product.version,
    };
    outbox::enqueue(conn, topic, &event.product_id, types::PRODUCT_CREATED, &event).await?;
    Ok(())
}

async fn record_updated(conn: &mut Conn, topic: &str, product: &ProductRow) -> Result<(), ProductError> {
    let event = ProductUpdated {
        product_id: product.id.to_string(),
        name: product.name.clone(),
        price: Some(money(product)),
        active: product.active,
        version: product.version,
    };
    outbox::enqueue(conn, topic, &event.product_id, types::PRODUCT_UPDATED, &event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_version_is_refused_and_any_passes() {
        assert!(Expected::Versions(vec![3]).check(3).is_ok());
        assert!(Expected::Versions(vec![2, 3]).check(3).is_ok());
        assert!(matches!(Expected::Versions(vec![2]).check(3), Err(ProductError::VersionMismatch { current: 3 })));
        assert!(Expected::Any.check(42).is_ok());
    }

    #[test]
    fn prices_need_a_real_currency_and_no_sign() {
        assert!(validate_price(1999, "EUR").is_ok());
        assert!(validate_price(0, "JPY").is_ok());
        assert!(validate_price(-1, "EUR").is_err());
        assert!(validate_price(100, "EUO").is_err());
        assert!(validate_price(100, "eur").is_err());
        assert!(validate_price(MAX_PRICE_MINOR + 1, "EUR").is_err());
    }

    #[test]
    fn names_skus_and_attributes_have_bounds() {
        assert!(validate_name("Mug").is_ok());
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"x".repeat(201)).is_err());
        assert!(validate_name("a\u{0}b").is_err());
        assert!(validate_description("a\u{0}b").is_err());
        assert!(validate_attributes(&serde_json::json!({ "colour": ["green", "a\u{0}b"] })).is_err());
        assert!(validate_attributes(&serde_json::json!({ "a\u{0}b": 1 })).is_err());
        assert!(validate_sku("MUG-01_a.b").is_ok());
        assert!(validate_sku("has space").is_err());
        assert!(validate_sku("").is_err());
        assert!(validate_attributes(&serde_json::json!({"colour": "blue"})).is_ok());
        assert!(validate_attributes(&serde_json::json!(["not", "an", "object"])).is_err());
        assert!(validate_attributes(&serde_json::json!({"": 1})).is_err());
        assert!(validate_stock(-1).is_err());
        assert!(validate_stock(MAX_ON_HAND).is_ok());
    }
}
