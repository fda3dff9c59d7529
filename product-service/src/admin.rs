//! Catalogue administration: create, update, soft-delete products and set their stock.
//! Every write checks the version the admin last read (optimistic concurrency: two admins
//! editing the same product cannot silently overwrite each other) and writes its events in
//! the same transaction.
use crate::{
    cache::Committed,
    db::Db,
    domain::{Attributes, Description, OnHand, Price, ProductName, Sku, StockChange},
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
            Self::Versions(_) | Self::Any => Ok(()),
        }
    }
}

/// A new product, each field valid by construction.
#[derive(Debug, Clone)]
pub struct Draft {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    pub category_id: Option<Uuid>,
    pub price: Price,
    pub attributes: Attributes,
    pub on_hand: OnHand,
}

/// Changes to a product's details; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    /// `Some(None)` removes the product from its category.
    pub category_id: Option<Option<Uuid>>,
    pub price: Option<Price>,
    pub attributes: Option<Attributes>,
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
                    sku: draft.sku.as_str(),
                    name: draft.name.as_str(),
                    description: draft.description.as_str(),
                    category_id: draft.category_id,
                    price_minor: draft.price.amount_minor(),
                    currency: draft.price.currency(),
                    attributes: draft.attributes.clone().into_inner(),
                    on_hand: draft.on_hand.get(),
                };
                if !products::insert(conn, new).await? {
                    return Err(ProductError::SkuTaken(draft.sku.to_string()));
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
            if let Some(name) = name {
                details.name = name.into_inner();
            }
            if let Some(description) = description {
                details.description = description.into_inner();
            }
            details.category_id = category_id.unwrap_or(details.category_id);
            if let Some(price) = price {
                details.price_minor = price.amount_minor();
                details.currency = price.currency().to_owned();
            }
            if let Some(attributes) = attributes {
                details.attributes = attributes.into_inner();
            }
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
                let on_hand = change.applied_to(current.on_hand)?.get();
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
}
