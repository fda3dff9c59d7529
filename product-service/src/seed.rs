//! `product-service seed --file PATH`: loads categories and products from a JSON file, once.
//! Categories are matched by slug and products by SKU; what exists already is left as it is,
//! so seeding again (every `make run` does) changes nothing. Each new product gets its
//! `ProductCreated` event in the same transaction, published by the service's relay.
use crate::{
    admin,
    db::DbPool,
    domain::{Attributes, Description, OnHand, Price, ProductName, Sku},
    error::ProductError,
    store::{
        self,
        products::{find, insert, NewProduct},
        seed::{add_category, category_id, sku_exists},
    },
};
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use uuid::Uuid;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFileText {
    categories: Vec<SeedCategory>,
    products: Vec<SeedProductText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedProductText {
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    price: SeedMoney,
    stock: i64,
    #[serde(default)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedMoney {
    amount_minor: i64,
    currency: String,
}

/// A seed file, parsed by the admin API's rules.
#[derive(Debug)]
pub struct SeedFile {
    pub categories: Vec<SeedCategory>,
    pub products: Vec<SeedProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCategory {
    pub slug: String,
    pub name: String,
}

#[derive(Debug)]
pub struct SeedProduct {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    /// A category slug of the same file.
    pub category: String,
    pub price: Price,
    pub on_hand: OnHand,
    pub attributes: Attributes,
}

impl SeedProductText {
    fn parse(self) -> Result<SeedProduct, ProductError> {
        Ok(SeedProduct {
            sku: Sku::parse(&self.sku)?,
            name: ProductName::parse(&self.name)?,
            description: Description::parse(&self.description)?,
            category: self.category,
            price: Price::parse(self.price.amount_minor, &self.price.currency)?,
            on_hand: OnHand::parse(self.stock)?,
            attributes: Attributes::parse(serde_json::Value::Object(self.attributes))?,
        })
    }
}

/// What a seed run did.
#[derive(Debug, PartialEq, Eq)]
pub struct Seeded {
    pub categories_created: usize,
    pub products_created: usize,
    pub products_present: usize,
}

pub fn parse(text: &str) -> anyhow::Result<SeedFile> {
    let file: SeedFileText = serde_json::from_str(text)?;
    let mut products = Vec::with_capacity(file.products.len());
    for product in file.products {
        let sku = product.sku.clone();
        let product = product.parse().map_err(|e| anyhow::anyhow!("{sku}: {e}"))?;
        anyhow::ensure!(
            file.categories.iter().any(|c| c.slug == product.category),
            "{sku}: unknown category {}",
            product.category
        );
        products.push(product);
    }
    Ok(SeedFile { categories: file.categories, products })
}

pub async fn load(pool: &DbPool, file: &SeedFile, events_topic: &str) -> Result<Seeded, ProductError> {
    let mut conn = pool.get().await?;
    store::transaction::<_, ProductError, _>(&mut conn, |conn| {
        async move {
            let mut seeded = Seeded { categories_created: 0, products_created: 0, products_present: 0 };
            for category in &file.categories {
                if add_category(conn, &category.slug, &category.name).await? {
                    seeded.categories_created += 1;
                }
            }
            for product in &file.products {
                if sku_exists(conn, product.sku.as_str()).await? {
                    seeded.products_present += 1;
                    continue;
                }
                let category_id = category_id(conn, &product.category).await?;
                let id = Uuid::now_v7();
                let new = NewProduct {
                    id,
                    sku: product.sku.as_str(),
                    name: product.name.as_str(),
                    description: product.description.as_str(),
                    category_id: Some(category_id),
                    price_minor: product.price.amount_minor(),
                    currency: product.price.currency(),
                    attributes: product.attributes.clone().into_inner(),
                    on_hand: product.on_hand.get(),
                };
                insert(conn, new).await?;
                let created = find(conn, id)
                    .await?
                    .ok_or_else(|| ProductError::Unexpected(anyhow::anyhow!("seeded product {id} vanished")))?;
                admin::record_created(conn, events_topic, &created).await?;
                seeded.products_created += 1;
            }
            Ok(seeded)
        }
        .scope_boxed()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalogue_is_valid() {
        let file = parse(include_str!("../seed/demo-catalogue.json")).unwrap();
        assert!(file.products.len() >= 24, "a few dozen products");
        assert!(file.categories.len() >= 4);
        let mut skus: Vec<_> = file.products.iter().map(|p| p.sku.as_str()).collect();
        skus.sort();
        skus.dedup();
        assert_eq!(skus.len(), file.products.len(), "SKUs are unique");
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let bad = r#"{"categories":[],"products":[{"sku":"X","name":"x","category":"none","price":{"amount_minor":1,"currency":"EUR"},"stock":1}]}"#;
        assert!(parse(bad).unwrap_err().to_string().contains("unknown category"));
        let bad = r#"{"categories":[{"slug":"a","name":"A"}],"products":[{"sku":"X","name":"x","category":"a","price":{"amount_minor":1,"currency":"eur"},"stock":1}]}"#;
        assert!(parse(bad).unwrap_err().to_string().contains("ISO 4217"));
        // The attributes pass the admin API's rules too (seeding once skipped them).
        let bad = r#"{"categories":[{"slug":"a","name":"A"}],"products":[{"sku":"X","name":"x","category":"a","price":{"amount_minor":1,"currency":"EUR"},"stock":1,"attributes":{"":1}}]}"#;
        assert!(parse(bad).unwrap_err().to_string().contains("X: attributes must be an object"));
    }
}
