//! A shopper's cart: reading it calls nobody; adding a product asks product-service for the
//! snapshot the line keeps (name, price, availability, version), which product events then
//! keep fresh.
use crate::{
    domain::{ProductId, Quantity},
    error::CartError,
    proto::shop::{common::v1::Money, product::v1::GetProductRequest},
    store::{Added, CartStore, Line, Snapshot, MAX_LINES, MAX_QUANTITY},
    upstream::{refusals, Upstream},
};

#[derive(Clone)]
pub struct Carts {
    store: CartStore,
    upstream: Upstream,
}

/// The cart's total: every line in the currency of its first line (a cart holds one currency;
/// a line in another would be refused at checkout by product's reservation total anyway).
pub fn total(lines: &[Line]) -> Money {
    let currency = lines.first().map(|l| l.unit_price.currency.clone()).unwrap_or_default();
    let amount_minor = lines
        .iter()
        .filter(|l| l.unit_price.currency == currency)
        .map(|l| l.unit_price.amount_minor.saturating_mul(l.quantity))
        .sum();
    Money { amount_minor, currency }
}

impl Carts {
    pub fn new(store: CartStore, upstream: Upstream) -> Self {
        Self { store, upstream }
    }

    pub async fn lines(&self, user_id: &str) -> Result<Vec<Line>, CartError> {
        self.store.lines(user_id).await
    }

    /// Adds a line, or units to one. With an Idempotency-Key, a repeat of the same add (same
    /// product and quantity) answers the cart without adding again.
    pub async fn add(
        &self,
        user_id: &str,
        product_id: &ProductId,
        quantity: Quantity,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<Line>, CartError> {
        let (product_id, quantity) = (product_id.as_str(), quantity.get());
        if let Some(key) = idempotency_key {
            match self.store.added_before(user_id, key, product_id, quantity).await? {
                Some(Added::Repeated) => return self.lines(user_id).await,
                Some(_) => return Err(CartError::IdempotencyKeyReused),
                None => {}
            }
        }
        let request = GetProductRequest { product_id: product_id.to_owned() };
        let product = match self.upstream.product.send(&request, |mut c, r| async move { c.get_product(r).await }).await
        {
            Ok(response) => response.product.ok_or_else(|| anyhow::anyhow!("GetProduct without a product"))?,
            Err(status) => return Err(refusals::lookup_refused(status, product_id)),
        };
        let snapshot = Snapshot {
            product_id: product.product_id,
            name: product.name,
            unit_price: product.price.unwrap_or(Money { amount_minor: 0, currency: String::new() }),
            available: product.active && product.available > 0,
            version: product.version,
        };
        match self.store.add_once(user_id, &snapshot, quantity, idempotency_key).await? {
            Added::Quantity(_) | Added::Repeated => self.lines(user_id).await,
            Added::KeyReused => Err(CartError::IdempotencyKeyReused),
            Added::CartFull => Err(CartError::CartFull(MAX_LINES)),
            Added::TooMany => {
                let current = self.lines(user_id).await?;
                let held = current.iter().find(|l| l.product_id == product_id).map_or(0, |l| l.quantity);
                Err(CartError::TooMany { max: MAX_QUANTITY, wanted: held + quantity })
            }
        }
    }

    pub async fn set_quantity(
        &self,
        user_id: &str,
        product_id: &ProductId,
        quantity: Quantity,
    ) -> Result<Vec<Line>, CartError> {
        let product_id = product_id.as_str();
        if !self.store.set_quantity(user_id, product_id, quantity.get()).await? {
            return Err(CartError::LineNotFound(product_id.to_owned()));
        }
        self.lines(user_id).await
    }

    pub async fn remove(&self, user_id: &str, product_id: &ProductId) -> Result<Vec<Line>, CartError> {
        let product_id = product_id.as_str();
        if !self.store.remove(user_id, product_id).await? {
            return Err(CartError::LineNotFound(product_id.to_owned()));
        }
        self.lines(user_id).await
    }

    pub async fn clear(&self, user_id: &str) -> Result<(), CartError> {
        self.store.clear(user_id).await
    }
}
