//! The REST API (actix-web).
mod admin;
mod caller;
mod error;
mod headers;
mod health;
mod limits;
mod observe;
pub mod openapi;
mod views;
mod webhooks;

use actix_web::{web, HttpRequest, HttpResponse};
use views::ErrorBody;

pub use headers::security_headers;
pub use limits::limit_request_headers;
pub use observe::observe;
pub use webhooks::WebhookSettings;

/// Registers every route of this service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(openapi::openapi_json)
        .service(webhooks::stripe_webhook)
        .service(webhooks::paypal_webhook)
        .service(admin::support_refund);
}

/// Answers requests no route takes: 405 with `Allow` for a known path (another method), 404
/// otherwise.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    match openapi::allowed_methods(req.path()) {
        Some(methods) => HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, methods.join(", ")))
            .json(ErrorBody::new(
                "method_not_allowed",
                format!("{} is not served here; use {}", req.method(), methods.join(", ")),
            )),
        None => HttpResponse::NotFound().json(ErrorBody::new("not_found", "no such route")),
    }
}
