//! `POST /v1/webhooks/stripe`: the gateway tells us how a payment or a refund ended. The body is read raw
//! (the signature covers its exact bytes) and verified before anything is parsed.
use super::views::{ErrorBody, WebhookReceived};
use crate::{error::PaymentError, payments::Payments, webhooks};
use actix_web::{post, web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// The webhook endpoint's signing secret and timestamp tolerance.
pub struct WebhookSettings {
    pub secret: Option<SecretString>,
    pub tolerance: Duration,
}

#[utoipa::path(
    tag = "gateway",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<HMAC-SHA256 of \"t.body\">`")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, as Stripe sends it"),
    responses(
        (status = 200, description = "Applied, or a repeat of an event already applied", body = WebhookReceived),
        (status = 400, description = "Missing or bad signature, a timestamp outside the tolerance, or not an event", body = ErrorBody),
        (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
        (status = 503, description = "The database is unavailable; Stripe retries", body = ErrorBody),
    )
)]
#[post("/v1/webhooks/stripe")]
pub(super) async fn stripe_webhook(
    req: HttpRequest,
    body: web::Bytes,
    settings: web::Data<WebhookSettings>,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, PaymentError> {
    let secret = settings.secret.as_ref().ok_or(PaymentError::WebhookRefused("no webhook secret is configured"))?;
    let header = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(PaymentError::WebhookRefused("the Stripe-Signature header is missing"))?;
    let now = chrono::Utc::now().timestamp();
    webhooks::verify_signature(header, &body, secret.expose_secret().as_bytes(), settings.tolerance, now)?;
    let applied = webhooks::apply(&payments, &body).await?;
    Ok(HttpResponse::Ok().json(WebhookReceived { received: true, duplicate: applied == webhooks::Applied::Duplicate }))
}
