//! Stripe's PaymentIntents and Refunds REST API over reqwest: form-encoded requests, the
//! secret key as bearer, our payment or refund id as `Idempotency-Key` (Stripe answers a
//! repeat with the first response for 24 h, which is what makes the reconciler safe), and
//! Stripe's answers mapped to an outcome or a retryable error. The base URL is configurable:
//! tests point it at a local mock server.
use super::{ChargeAttempt, Gateway, GatewayError, GatewayFuture, Outcome, RefundAttempt};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

pub struct Stripe {
    client: reqwest::Client,
    base_url: String,
    secret_key: SecretString,
}

/// A PaymentIntent or a Refund: both have an id and a status.
#[derive(Debug, Deserialize)]
struct Object {
    id: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<ErrorBody>,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

/// Stripe's error object, also a PaymentIntent's `last_payment_error`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    payment_intent: Option<PaymentIntentRef>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentRef {
    id: String,
}

impl Stripe {
    pub fn new(base_url: String, secret_key: SecretString, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .context("building the Stripe HTTP client")?;
        Ok(Self { client, base_url: base_url.trim_end_matches('/').to_owned(), secret_key })
    }

    async fn post(&self, path: &str, key: &str, form: &[(&str, String)]) -> Result<Outcome, GatewayError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.secret_key.expose_secret())
            .header("Idempotency-Key", key)
            .form(form)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        interpret(status, &body)
    }
}

fn transport_error(error: reqwest::Error) -> GatewayError {
    if error.is_timeout() {
        GatewayError::Timeout
    } else {
        // Never the URL with query or the key: reqwest's Display names the host and the cause.
        GatewayError::Unavailable(format!("{}", error.without_url()))
    }
}

/// Maps Stripe's answer: an object (by its status) or an error (by HTTP status and type).
fn interpret(status: reqwest::StatusCode, body: &[u8]) -> Result<Outcome, GatewayError> {
    if status.is_success() {
        let object: Object = serde_json::from_slice(body)
            .map_err(|_| GatewayError::Unavailable(format!("Stripe answered {status} with an unexpected body")))?;
        return Ok(match object.status.as_str() {
            "succeeded" => Outcome::Succeeded { reference: object.id },
            "processing" | "pending" | "requires_action" | "requires_confirmation" | "requires_capture" => {
                Outcome::Pending { reference: object.id }
            }
            _ => failed(object.id, object.last_payment_error),
        });
    }
    let error = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|e| e.error);
    match status.as_u16() {
        // A card error (402), or a request Stripe refuses for good (400, 404: a bad token).
        400 | 402 | 404 => {
            let error = error.ok_or_else(|| GatewayError::Unavailable(format!("Stripe answered {status}")))?;
            Ok(Outcome::Declined {
                reference: error.payment_intent.map(|p| p.id),
                code: error.decline_code.or(error.code).unwrap_or_else(|| error.kind.clone()),
                message: error.message.unwrap_or_else(|| "The payment was refused.".to_owned()),
            })
        }
        // 401/403: our key is wrong (an operator must fix it; the payment waits); 409: a
        // request with the same key is still running at Stripe; 429 and 5xx: try later.
        _ => Err(GatewayError::Unavailable(format!(
            "Stripe answered {status}{}",
            error.and_then(|e| e.message).map(|m| format!(": {m}")).unwrap_or_default()
        ))),
    }
}

/// A PaymentIntent that failed, by its `last_payment_error` (the decline code when Stripe gives
/// one): what a synchronous answer and a `payment_intent.payment_failed` webhook both say.
pub fn failed(payment_intent: String, last_payment_error: Option<ErrorBody>) -> Outcome {
    let code = last_payment_error.as_ref().and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()));
    Outcome::Declined {
        reference: Some(payment_intent),
        code: code.unwrap_or_else(|| "payment_failed".to_owned()),
        message: last_payment_error.and_then(|e| e.message).unwrap_or_else(|| "The payment failed.".to_owned()),
    }
}

impl Gateway for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn charge<'a>(&'a self, attempt: &'a ChargeAttempt) -> GatewayFuture<'a> {
        Box::pin(async move {
            let form = [
                ("amount", attempt.amount_minor.to_string()),
                ("currency", attempt.currency.to_ascii_lowercase()),
                ("confirm", "true".to_owned()),
                ("payment_method_data[type]", "card".to_owned()),
                ("payment_method_data[card][token]", attempt.payment_token.clone()),
                ("automatic_payment_methods[enabled]", "true".to_owned()),
                ("automatic_payment_methods[allow_redirects]", "never".to_owned()),
                ("metadata[payment_id]", attempt.payment_id.clone()),
            ];
            self.post("/v1/payment_intents", &attempt.payment_id, &form).await
        })
    }

    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a> {
        Box::pin(async move {
            let form = [
                ("payment_intent", attempt.charge_reference.clone()),
                ("amount", attempt.amount_minor.to_string()),
                ("metadata[refund_id]", attempt.refund_id.clone()),
            ];
            self.post("/v1/refunds", &attempt.refund_id, &form).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn statuses_and_errors_map_to_outcomes() {
        let ok = interpret(StatusCode::OK, br#"{"id":"pi_1","status":"succeeded"}"#).unwrap();
        assert_eq!(ok, Outcome::Succeeded { reference: "pi_1".into() });
        let pending = interpret(StatusCode::OK, br#"{"id":"pi_2","status":"processing"}"#).unwrap();
        assert_eq!(pending, Outcome::Pending { reference: "pi_2".into() });
        let declined = interpret(
            StatusCode::PAYMENT_REQUIRED,
            br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
                 "message":"Your card has insufficient funds.","payment_intent":{"id":"pi_3"}}}"#,
        )
        .unwrap();
        assert!(matches!(declined, Outcome::Declined { code, reference: Some(r), .. }
            if code == "insufficient_funds" && r == "pi_3"));
        assert!(matches!(interpret(StatusCode::INTERNAL_SERVER_ERROR, b"oops"), Err(GatewayError::Unavailable(_))));
        assert!(matches!(interpret(StatusCode::TOO_MANY_REQUESTS, b"{}"), Err(GatewayError::Unavailable(_))));
        assert!(matches!(interpret(StatusCode::UNAUTHORIZED, b"{}"), Err(GatewayError::Unavailable(_))));
    }
}
