//! The REST API's OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /openapi.json`; `cart-service openapi` prints it, and a copy is kept in
//! `contracts/openapi/cart-service.json` (a test fails when the two differ).
//!
//! The response types are the handlers' own (`views.rs`); schemathesis checks every answer of
//! the running service against this document (tests/e2e).
use super::{cart, health, views::ErrorBody};
use actix_web::{get, HttpResponse};
use std::collections::BTreeMap;
use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder,
    },
    IntoResponses, Modify, OpenApi, ToSchema,
};

/// What every cart route may answer besides its own outcomes, each with an `ErrorBody`.
pub struct ShopperErrors;

impl IntoResponses for ShopperErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            ("401", "No valid token, or its session was revoked"),
            ("503", "Redis, product or auth's keys unavailable; retry after `Retry-After`"),
        ])
    }
}

/// What a route that reads a JSON body may answer about the body itself.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[("413", "The body exceeds 64 KiB"), ("415", "The body is not application/json")])
    }
}

/// Responses with an `ErrorBody`, by status.
fn error_responses(statuses: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
            let response = ResponseBuilder::new().description(*description).content("application/json", body).build();
            ((*status).to_owned(), RefOr::T(response))
        })
        .collect()
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
        cart::checkout_state,
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
