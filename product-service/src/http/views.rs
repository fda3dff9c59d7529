//! The bodies the REST API answers with: the handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes the same types, so what is served and what is documented are one.
use crate::{
    readiness::Report,
    store::{catalogue::Category as CategoryRow, products::ProductRow},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Money: integer minor units and an ISO 4217 code.
#[derive(Serialize, ToSchema)]
pub struct Money {
    #[schema(example = 1250)]
    pub amount_minor: i64,
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
}

/// A product as the public catalogue shows it.
#[derive(Serialize, ToSchema)]
pub struct Product {
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    #[schema(value_type = Option<String>, format = "uuid", nullable)]
    pub category_id: Option<Uuid>,
    pub price: Money,
    /// Units that can be bought now: on hand minus reserved by checkouts.
    #[schema(minimum = 0)]
    pub available: i64,
    /// Free-form attributes (colour, size, …), filterable with `attr.<name>=<value>`.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Changes with every change of the product, stock included; its ETag.
    pub version: i64,
    #[schema(value_type = String, format = "date-time")]
    pub updated_at: DateTime<Utc>,
}

/// A product as admins see it: the public view and the stock figures behind `available`.
#[derive(Serialize, ToSchema)]
pub struct AdminProduct {
    #[serde(flatten)]
    pub product: Product,
    #[schema(minimum = 0)]
    pub on_hand: i64,
    #[schema(minimum = 0)]
    pub reserved: i64,
}

/// One page of the catalogue.
#[derive(Serialize, ToSchema)]
pub struct ProductPage {
    pub products: Vec<Product>,
    /// Pass as `page_token` for the next page; `null` on the last one.
    #[schema(nullable)]
    pub next_page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Category {
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Categories {
    pub categories: Vec<Category>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `product_not_found`, `unauthenticated`, …
    pub code: &'static str,
    /// For people; never contains secrets.
    pub message: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency (database, kafka): whether it answered, and why not.
    pub checks: Vec<crate::readiness::Check>,
}

impl From<ProductRow> for Product {
    fn from(product: ProductRow) -> Self {
        Self {
            available: product.available(),
            id: product.id,
            sku: product.sku,
            name: product.name,
            description: product.description,
            category_id: product.category_id,
            price: Money { amount_minor: product.price_minor, currency: product.currency },
            attributes: product.attributes,
            version: product.version,
            updated_at: product.updated_at,
        }
    }
}

impl From<ProductRow> for AdminProduct {
    fn from(product: ProductRow) -> Self {
        let (on_hand, reserved) = (product.on_hand, product.reserved);
        Self { product: Product::from(product), on_hand, reserved }
    }
}

impl From<CategoryRow> for Category {
    fn from(category: CategoryRow) -> Self {
        Self { id: category.id, slug: category.slug, name: category.name }
    }
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into() } }
    }
}

impl From<Report> for Readiness {
    fn from(report: Report) -> Self {
        Self { status: if report.ready { "ready" } else { "unavailable" }, checks: report.checks }
    }
}
