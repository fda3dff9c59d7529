//! `POST /v1/webhooks/stripe` and `POST /v1/webhooks/paypal`: the gateway tells us how a payment
//! or a refund ended (and PayPal, that a buyer approved). The body is read raw (the signature
//! covers its exact bytes) and verified before anything is parsed.
use super::views::{ErrorBody, WebhookReceived};
use crate::{error::PaymentError, gateway::paypal::WebhookSignature, payments::Payments, paypal_webhooks, webhooks};
use actix_web::{post, web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Stripe's endpoint signing secret and timestamp tolerance; PayPal's webhook id (PayPal's
/// verification call checks an event against it).
pub struct WebhookSettings {
    pub secret: Option<SecretString>,
    pub tolerance: Duration,
    pub paypal_webhook_id: Option<String>,
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

#[utoipa::path(
    tag = "gateway",
    params(
        ("PAYPAL-TRANSMISSION-SIG" = String, Header, description = "PayPal's signature of the event"),
        ("PAYPAL-TRANSMISSION-ID" = String, Header, description = "With the time, the algorithm and the certificate URL: what PayPal's verification call takes"),
    ),
    request_body(content = Object, content_type = "application/json", description = "A PayPal event, as PayPal sends it"),
    responses(
        (status = 200, description = "Applied, or a repeat of an event already applied", body = WebhookReceived),
        (status = 400, description = "PayPal did not confirm the signature, a header is missing, or the event is not one this service takes", body = ErrorBody),
        (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
        (status = 503, description = "PayPal's verification or the database is unavailable; PayPal retries", body = ErrorBody),
    )
)]
#[post("/v1/webhooks/paypal")]
pub(super) async fn paypal_webhook(
    req: HttpRequest,
    body: web::Bytes,
    settings: web::Data<WebhookSettings>,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, PaymentError> {
    let webhook_id = settings
        .paypal_webhook_id
        .as_deref()
        .ok_or(PaymentError::WebhookRefused("no PayPal webhook id is configured"))?;
    let header = |name: &'static str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(PaymentError::WebhookRefused("a PAYPAL-* signature header is missing"))
    };
    let signature = WebhookSignature {
        auth_algo: header("PAYPAL-AUTH-ALGO")?,
        cert_url: header("PAYPAL-CERT-URL")?,
        transmission_id: header("PAYPAL-TRANSMISSION-ID")?,
        transmission_sig: header("PAYPAL-TRANSMISSION-SIG")?,
        transmission_time: header("PAYPAL-TRANSMISSION-TIME")?,
    };
    let applied = paypal_webhooks::apply(&payments, webhook_id, &signature, &body).await?;
    Ok(HttpResponse::Ok().json(WebhookReceived { received: true, duplicate: applied == webhooks::Applied::Duplicate }))
}
