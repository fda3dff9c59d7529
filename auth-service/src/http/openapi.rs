//! The REST API's OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /openapi.json`; `auth-service openapi` prints it, and a copy is kept in
//! `contracts/openapi/auth-service.json` (a test fails when the two differ).
//!
//! The response types are the handlers' own (`views.rs`); schemathesis checks every answer of
//! the running service against this document (tests/e2e).
use super::{auth, health, views::ErrorBody};
use actix_web::{get, HttpResponse};
use std::collections::BTreeMap;
use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder,
    },
    IntoResponses, Modify, OpenApi, ToSchema,
};

/// What a route that reads a JSON body and the database may answer besides its own outcomes,
/// each with an `ErrorBody`.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("413", "The body exceeds 64 KiB"),
            ("415", "The body is not application/json"),
            ("503", "The database is unavailable; retry after `Retry-After`"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
            let response = ResponseBuilder::new().description(description).content("application/json", body).build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
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
        title = "auth-service",
        description = "Accounts, sessions and tokens: sign-up, login, refresh-token rotation, logout, the JWKS, order history. (The services check a token's session with gRPC VerifyToken, over mutual TLS.)"
    ),
    paths(
        auth::signup,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::me,
        auth::my_orders,
        auth::jwks,
        health::healthz,
        health::readyz,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// The methods the document lists for `path` (templates with `{...}` match any one
/// segment), or `None` when no documented path matches: a request with another
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
