//! The REST API's OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /openapi.json`; `cart-service openapi` prints it, and a copy is kept in
//! `contracts/openapi/cart-service.json` (a test fails when the two differ).
//!
//! The response types here describe the JSON the handlers build; schemathesis checks every
//! answer of the running service against them (tests/e2e).
use super::{cart, health};
use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    IntoResponses, Modify, OpenApi, ToSchema,
};

/// Money: integer minor units and an ISO 4217 code (empty for an empty cart's total).
#[derive(Serialize, ToSchema)]
pub struct Money {
    #[schema(example = 1250)]
    pub amount_minor: i64,
    #[schema(pattern = "^([A-Z]{3})?$", example = "EUR")]
    pub currency: String,
}

/// A line: the product as it was when added (name, price), kept up to date by product events.
#[derive(Serialize, ToSchema)]
pub struct Line {
    #[schema(format = "uuid")]
    pub product_id: String,
    pub name: String,
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
    pub unit_price: Money,
    /// False once the product is out of stock or no longer sold: checkout refuses the cart.
    pub available: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Cart {
    #[schema(format = "uuid")]
    pub user_id: String,
    #[schema(max_items = 100)]
    pub lines: Vec<Line>,
    pub total: Money,
}

/// A bought line, as the checkout's answer lists it.
#[derive(Serialize, ToSchema)]
pub struct PaidLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

/// A checkout's outcome: `paid` (201) or `pending` (202: the gateway has not decided; the
/// payment's event finishes it).
#[derive(Serialize, ToSchema)]
pub struct CheckoutSummary {
    pub checkout_id: String,
    pub payment_id: String,
    #[schema(pattern = "^(paid|pending)$")]
    pub status: String,
    pub lines: Vec<PaidLine>,
    pub total: Money,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `product_not_found`, `cart_empty`, …
    pub code: String,
    /// For people; never contains secrets.
    pub message: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What every cart route may answer besides its own outcomes.
#[derive(IntoResponses)]
#[allow(dead_code)] // describes answers; the handlers build them from `CartError`
pub enum ShopperErrors {
    #[response(status = 401, description = "No valid token, or its session was revoked")]
    Unauthenticated(ErrorBody),
    #[response(status = 503, description = "Redis, product or auth's keys unavailable; retry after `Retry-After`")]
    Unavailable(ErrorBody),
}

/// What a route that reads a JSON body may answer about the body itself.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    #[response(status = 413, description = "The body exceeds 64 KiB")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not application/json")]
    NotJson(ErrorBody),
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
    /// Each dependency (redis, kafka): whether it answered, and why not.
    pub checks: Vec<crate::readiness::Check>,
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
        title = "cart-service",
        description = "The shopper's cart, and the checkout saga: reserve stock, charge, commit — or release."
    ),
    paths(
        cart::get_cart,
        cart::add_item,
        cart::update_item,
        cart::remove_item,
        cart::clear_cart,
        cart::checkout,
        health::healthz,
        health::readyz,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// The methods the document lists for `path` (templates such as `/v1/cart/items/{id}` match
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
