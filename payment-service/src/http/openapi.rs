//! The REST API's OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /openapi.json`; `payment-service openapi` prints it, and a copy is kept in
//! `contracts/openapi/payment-service.json` (a test fails when the two differ). Payments
//! themselves are gRPC (contracts/proto); REST serves the gateway's webhook, operators' support
//! refunds and the probes.
//!
//! The response types are the handlers' own (`views.rs`).
use super::{admin, health, webhooks};
use actix_web::{get, HttpResponse};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "payment-service",
        description = "Payment's REST side: the payment gateway's webhook, operators' support refunds and the probes. Charges, the owner's refunds and payment reads are gRPC (shop.payment.v1.PaymentService)."
    ),
    paths(webhooks::stripe_webhook, webhooks::paypal_webhook, admin::support_refund, health::healthz, health::readyz),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The `bearer` scheme the operator route names: auth-service's access tokens.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

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
