//! The REST API (actix-web).
mod admin;
mod caller;
mod catalogue;
mod error;
mod headers;
mod health;
mod limits;
mod observe;
pub mod openapi;
mod views;

use actix_web::{
    error::{InternalError, JsonPayloadError, UrlencodedError},
    web, HttpRequest, HttpResponse,
};
use views::ErrorBody;

pub use headers::security_headers;
pub use limits::limit_request_headers;
pub use observe::observe;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY: usize = 64 * 1024;

/// Registers every route of this service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(openapi::openapi_json)
        .configure(catalogue::routes)
        .configure(admin::routes);
}

/// Body limits and error bodies for JSON and form payloads.
pub fn payload_config(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_BODY).error_handler(json_error))
        .app_data(web::FormConfig::default().limit(MAX_BODY).error_handler(form_error))
        .app_data(web::PayloadConfig::default().limit(MAX_BODY));
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

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let response = match &error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            HttpResponse::PayloadTooLarge()
                .json(ErrorBody::new("payload_too_large", format!("the body exceeds {MAX_BODY} bytes")))
        }
        JsonPayloadError::ContentType => HttpResponse::UnsupportedMediaType()
            .json(ErrorBody::new("unsupported_media_type", "send the body as application/json")),
        JsonPayloadError::Deserialize(e) => HttpResponse::BadRequest()
            .json(ErrorBody::new("invalid_request", format!("the body does not fit the request: {e}"))),
        other => HttpResponse::BadRequest()
            .json(ErrorBody::new("invalid_request", format!("the body is not valid JSON: {other}"))),
    };
    InternalError::from_response(error, response).into()
}

fn form_error(error: UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    let response = match &error {
        UrlencodedError::Overflow { .. } => HttpResponse::PayloadTooLarge()
            .json(ErrorBody::new("payload_too_large", format!("the body exceeds {MAX_BODY} bytes"))),
        UrlencodedError::ContentType => HttpResponse::UnsupportedMediaType().json(ErrorBody::new(
            "unsupported_media_type",
            "send the body as application/x-www-form-urlencoded or JSON",
        )),
        other => HttpResponse::BadRequest()
            .json(ErrorBody::new("invalid_request", format!("the form is not valid: {other}"))),
    };
    InternalError::from_response(error, response).into()
}
