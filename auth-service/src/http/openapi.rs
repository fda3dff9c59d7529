//! The REST API's OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /openapi.json`; `auth-service openapi` prints it, and a copy is kept in
//! `contracts/openapi/auth-service.json` (a test fails when the two differ).
//!
//! The response types here describe the JSON the handlers build; schemathesis checks every
//! answer of the running service against them (tests/e2e).
use super::{auth, health};
use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    IntoResponses, Modify, OpenApi, ToSchema,
};

/// Money: integer minor units and an ISO 4217 code.
#[derive(Serialize, ToSchema)]
pub struct Money {
    pub amount_minor: i64,
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignedUp {
    #[schema(format = "uuid")]
    pub user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[schema(format = "uuid")]
    pub user_id: String,
    #[schema(format = "email")]
    pub email: String,
    pub roles: Vec<crate::domain::Role>,
    #[schema(format = "date-time")]
    pub created_at: String,
}

/// A paid order, from payment's events.
#[derive(Serialize, ToSchema)]
pub struct Order {
    #[schema(format = "uuid")]
    pub payment_id: String,
    pub order_id: String,
    pub total: Money,
    pub refunded: Money,
    /// The order lines as payment reported them (product id, name, quantity, unit price).
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    #[schema(format = "date-time")]
    pub paid_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Orders {
    /// Newest first, at most 100.
    pub orders: Vec<Order>,
}

/// RFC 7662's answer: `{"active": false}` alone for a token that is invalid, expired or of a
/// revoked session; the claims besides for an active one.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    pub sub: Option<String>,
    pub scope: Option<String>,
    pub roles: Option<Vec<crate::domain::Role>>,
    pub token_type: Option<String>,
    pub exp: Option<u64>,
    pub iat: Option<u64>,
    pub nbf: Option<u64>,
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub jti: Option<String>,
    pub sid: Option<String>,
}

/// An Ed25519 public key (RFC 8037).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    #[schema(pattern = "^OKP$")]
    pub kty: String,
    #[schema(pattern = "^Ed25519$")]
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub usage: String,
    pub alg: String,
}

#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `invalid_credentials`, `email_taken`, …
    pub code: String,
    /// For people; never contains secrets.
    pub message: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What a route that reads a JSON body and the database may answer besides its own outcomes.
#[derive(IntoResponses)]
#[allow(dead_code)] // describes answers; the handlers build them from `AuthError`
pub enum JsonBodyErrors {
    #[response(status = 413, description = "The body exceeds 64 KiB")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not application/json")]
    NotJson(ErrorBody),
    #[response(status = 503, description = "The database is unavailable; retry after `Retry-After`")]
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
        description = "Accounts, sessions and tokens: sign-up, login, refresh-token rotation, logout, introspection, the JWKS, order history."
    ),
    paths(
        auth::signup,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::me,
        auth::my_orders,
        auth::introspect,
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
