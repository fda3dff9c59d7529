//! The REST API (actix-web).
mod headers;
mod health;
mod limits;
mod observe;
mod webhooks;

use actix_web::{web, HttpResponse};
use serde_json::json;

pub use headers::security_headers;
pub use limits::limit_request_headers;
pub use observe::observe;
pub use webhooks::WebhookSettings;

/// Registers every route of this service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(health::metrics).service(webhooks::stripe_webhook);
}

/// The JSON error body every 4xx and 5xx of this service uses.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code, "message": message } })
}

/// Answers paths no route matches.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(error_body("not_found", "no such route"))
}
