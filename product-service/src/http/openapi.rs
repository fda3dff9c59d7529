//! The REST API's OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /openapi.json`; `product-service openapi` prints it, and a copy is kept in
//! `contracts/openapi/product-service.json` (a test fails when the two differ).
//!
//! The response types here describe the JSON the handlers build; schemathesis checks every
//! answer of the running service against them (tests/e2e).
use super::{admin, catalogue, health};
use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    IntoParams, IntoResponses, Modify, OpenApi, ToSchema,
};

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
    #[schema(format = "uuid")]
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    #[schema(format = "uuid", nullable)]
    pub category_id: Option<String>,
    pub price: Money,
    /// Units that can be bought now: on hand minus reserved by checkouts.
    #[schema(minimum = 0)]
    pub available: i64,
    /// Free-form attributes (colour, size, …), filterable with `attr.<name>=<value>`.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Changes with every change of the product, stock included; its ETag.
    pub version: i64,
    #[schema(format = "date-time")]
    pub updated_at: String,
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
    #[schema(format = "uuid")]
    pub id: String,
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
    pub code: String,
    /// For people; never contains secrets.
    pub message: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What every admin route may answer besides its own outcomes.
#[derive(IntoResponses)]
#[allow(dead_code)] // describes answers; the handlers build them from `ProductError`
pub enum AdminErrors {
    #[response(status = 401, description = "No valid token, or its session was revoked")]
    Unauthenticated(ErrorBody),
    #[response(status = 403, description = "The token lacks the admin role")]
    Forbidden(ErrorBody),
    #[response(status = 413, description = "The body exceeds 64 KiB")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not application/json")]
    NotJson(ErrorBody),
    #[response(status = 503, description = "The database or auth is unavailable; retry after `Retry-After`")]
    Unavailable(ErrorBody),
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// Each dependency (database, kafka): whether it answered, and why not.
    pub checks: Vec<crate::readiness::Check>,
}

/// The listing's filters (and `attr.<name>=<value>` for attribute equality, any number).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query; the handler reads it as a map
pub struct ListQuery {
    /// Only this category.
    #[param(format = "uuid")]
    category: Option<String>,
    /// Text in the product's name (at most 100 characters).
    #[param(max_length = 100)]
    q: Option<String>,
    /// Lowest price, minor units.
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Highest price, minor units.
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// Only products with units available.
    in_stock: Option<bool>,
    /// 1 to 100; 20 when absent.
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
    /// From the previous page's `next_page_token` (base64url of 16 bytes).
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    page_token: Option<String>,
}

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "product-service",
        description = "The shop's catalogue: public reads with filters, keyset pagination and ETags; admin writes with optimistic concurrency."
    ),
    paths(
        catalogue::list_products,
        catalogue::get_product,
        catalogue::list_categories,
        admin::create_product,
        admin::update_product,
        admin::delete_product,
        admin::change_stock,
        health::healthz,
        health::readyz,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// The methods the document lists for `path` (templates such as `/v1/products/{id}` match
/// any one segment), or `None` when no documented path matches: a request with another
/// method gets 405 and these in `Allow` rather than 404.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    static ROUTES: std::sync::LazyLock<Vec<(Vec<String>, Vec<&'static str>)>> = std::sync::LazyLock::new(|| {
        let document = ApiDoc::openapi();
        let mut routes: Vec<(Vec<String>, Vec<&'static str>)> = document
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let segments = template.split('/').map(str::to_owned).collect();
                (segments, methods.into_iter().filter(|(_, on)| *on).map(|(m, _)| m).collect())
            })
            .collect();
        // Routes served but not in the document.
        routes.push((vec![String::new(), "metrics".into()], vec!["GET"]));
        routes.push((vec![String::new(), "openapi.json".into()], vec!["GET"]));
        routes
    });
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .find(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .map(|(_, methods)| methods.clone())
}

/// The document as the service serves it (pretty-printed, with a final newline).
pub fn document() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

#[get("/openapi.json")]
pub(super) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}
