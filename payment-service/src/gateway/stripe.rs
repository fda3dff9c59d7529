//! Stripe's PaymentIntents and Refunds REST API over reqwest: form-encoded requests, the
//! secret key as bearer, our payment or refund id as `Idempotency-Key` (Stripe answers a
//! repeat with the first response for 24 h, which is what makes the reconciler safe), and
//! Stripe's answers mapped to an outcome or a retryable error. A charge or refund Stripe
//! accepted is followed with look-ups (`GET`), never by repeating the create call: the repeat
//! would only replay the first answer. The base URL is configurable: tests point it at a local
//! mock server.
use super::{ChargeAttempt, Gateway, GatewayError, GatewayFuture, Outcome, RefundAttempt, SearchFuture, CANCELED};
use anyhow::Context;
use reqwest::StatusCode;
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
    /// A failed refund's reason (`declined`, `expired_or_canceled_card`, ...).
    #[serde(default)]
    failure_reason: Option<String>,
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

/// The PaymentIntent an error is about, with its status (a cancel refused because the intent
/// already succeeded says so here).
#[derive(Debug, Deserialize)]
struct PaymentIntentRef {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

/// What a request was: Stripe refusing a request that creates a charge or refund (a card
/// error, a bad token, more than the charge) is final; Stripe refusing a look-up or a cancel
/// (404, a key it no longer knows) says nothing about the charge or refund, so it is only "no
/// answer" and the payment or refund stays pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Create,
    Follow,
}

/// Stripe's answer before it is read as an outcome.
enum Reply {
    Object(Object),
    /// 400, 402 or 404 with an error body.
    Refused(ErrorBody),
}

/// A PaymentIntent's answer; one waiting for 3-D Secure is cancelled before it is an outcome.
#[derive(Debug, PartialEq, Eq)]
enum Intent {
    Outcome(Outcome),
    /// `requires_action`: our intents are confirmed on the server with redirects disallowed,
    /// so nobody can ever complete the authentication.
    NeedsAuthentication {
        reference: String,
    },
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

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>), GatewayError> {
        super::send(request.bearer_auth(self.secret_key.expose_secret())).await
    }

    async fn post(
        &self,
        path: &str,
        key: &str,
        form: &[(&str, String)],
    ) -> Result<(StatusCode, Vec<u8>), GatewayError> {
        let url = format!("{}{path}", self.base_url);
        self.send(self.client.post(url).header("Idempotency-Key", key).form(form)).await
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Vec<u8>), GatewayError> {
        self.send(self.client.get(format!("{}{path}", self.base_url))).await
    }

    /// Turns a PaymentIntent's answer into an outcome, cancelling one that waits for 3-D Secure.
    async fn intent(&self, payment_id: &str, answer: Result<Intent, GatewayError>) -> Result<Outcome, GatewayError> {
        match answer? {
            Intent::Outcome(outcome) => Ok(outcome),
            Intent::NeedsAuthentication { reference } => {
                Ok(self.cancel_for_authentication(payment_id, reference).await)
            }
        }
    }

    /// An intent waiting for 3-D Secure can never complete here, so it is a decline
    /// (`authentication_required`) once Stripe confirms the cancel. Without that confirmation
    /// the payment stays pending with its reference: the reconciler's next look-up finds the
    /// intent still waiting and cancels again, so no intent is left open at Stripe while the
    /// payment reads as failed.
    async fn cancel_for_authentication(&self, payment_id: &str, reference: String) -> Outcome {
        match self.cancel(payment_id, &reference).await {
            Ok(Outcome::Declined { reference, .. }) => Outcome::Declined {
                reference,
                code: "authentication_required".to_owned(),
                message: "The card asks for 3-D Secure authentication, which this checkout cannot perform.".to_owned(),
            },
            // Succeeded after all, or past cancelling but not final: as Stripe says.
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(payment_id, error = %error, "cancelling an intent that needs 3-D Secure got no answer; the reconciler cancels again");
                Outcome::Pending { reference }
            }
        }
    }

    async fn cancel(&self, payment_id: &str, reference: &str) -> Result<Outcome, GatewayError> {
        let path = format!("{}/cancel", object_path("/v1/payment_intents/", reference)?);
        let (status, body) = self.post(&path, &format!("cancel-{payment_id}"), &[]).await?;
        interpret_cancel(status, &body)
    }
}

/// The path of one of Stripe's objects. The id comes from our database; anything but an id's
/// characters is refused so that it can never change the path.
fn object_path(prefix: &str, id: &str) -> Result<String, GatewayError> {
    let valid = !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(format!("{prefix}{id}"))
    } else {
        Err(GatewayError::Unavailable("the stored gateway reference is not a Stripe id".to_owned()))
    }
}

/// Splits Stripe's answer into an object, a refusal (by HTTP status) or no decision.
fn read(status: StatusCode, body: &[u8]) -> Result<Reply, GatewayError> {
    if status.is_success() {
        return serde_json::from_slice(body)
            .map(Reply::Object)
            .map_err(|_| GatewayError::Unavailable(format!("Stripe answered {status} with an unexpected body")));
    }
    let error = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|e| e.error);
    match (status.as_u16(), error) {
        // A card error (402), or a request Stripe refuses for good (400, 404: a bad token).
        (400 | 402 | 404, Some(error)) => Ok(Reply::Refused(error)),
        // 401/403: our key is wrong (an operator must fix it; the payment waits); 409: a
        // request with the same key is still running at Stripe; 429 and 5xx: try later.
        (_, error) => Err(GatewayError::Unavailable(format!(
            "Stripe answered {status}{}",
            error.and_then(|e| e.message).map(|m| format!(": {m}")).unwrap_or_default()
        ))),
    }
}

/// A refused look-up or cancel: no decision about the charge or refund.
fn not_a_decision(status: StatusCode, error: &ErrorBody) -> GatewayError {
    let code = error.code.as_deref().unwrap_or(error.kind.as_str());
    GatewayError::Unavailable(format!("Stripe refused the follow-up request ({status} {code})"))
}

/// A create request Stripe refused for good.
fn refusal(error: ErrorBody, reference: Option<String>) -> Outcome {
    Outcome::Declined {
        reference,
        code: error.decline_code.or(error.code).unwrap_or_else(|| error.kind.clone()),
        message: error.message.unwrap_or_else(|| "The payment was refused.".to_owned()),
    }
}

fn interpret_intent(call: Call, status: StatusCode, body: &[u8]) -> Result<Intent, GatewayError> {
    match read(status, body)? {
        Reply::Object(object) => Ok(intent_status(object.id, &object.status, object.last_payment_error)),
        Reply::Refused(error) if call == Call::Create => {
            let reference = error.payment_intent.as_ref().map(|p| p.id.clone());
            Ok(Intent::Outcome(refusal(error, reference)))
        }
        Reply::Refused(error) => Err(not_a_decision(status, &error)),
    }
}

/// A PaymentIntent by its status.
fn intent_status(id: String, status: &str, last_payment_error: Option<ErrorBody>) -> Intent {
    Intent::Outcome(match status {
        "succeeded" => Outcome::Succeeded { reference: id },
        "requires_action" => return Intent::NeedsAuthentication { reference: id },
        "requires_payment_method" => failed(id, last_payment_error),
        "canceled" => {
            let code = last_payment_error.as_ref().and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()));
            Outcome::Declined {
                reference: Some(id),
                code: code.unwrap_or_else(|| CANCELED.to_owned()),
                message: "The payment was cancelled.".to_owned(),
            }
        }
        // processing, requires_confirmation, requires_capture, and any status Stripe adds
        // later: not final, so never booked as failed (it may have taken the money).
        _ => Outcome::Pending { reference: id },
    })
}

/// A cancel's answer: the cancelled intent, or Stripe refusing because the intent is past
/// cancelling, in which case the intent's status in the error says how it ended.
fn interpret_cancel(status: StatusCode, body: &[u8]) -> Result<Outcome, GatewayError> {
    let intent = match read(status, body)? {
        Reply::Object(object) => intent_status(object.id, &object.status, object.last_payment_error),
        Reply::Refused(ErrorBody { payment_intent: Some(PaymentIntentRef { id, status: Some(state) }), .. }) => {
            intent_status(id, &state, None)
        }
        Reply::Refused(error) => return Err(not_a_decision(status, &error)),
    };
    Ok(match intent {
        Intent::Outcome(outcome) => outcome,
        // Still waiting: the cancel did not take; the caller asks again.
        Intent::NeedsAuthentication { reference } => Outcome::Pending { reference },
    })
}

fn interpret_refund(call: Call, status: StatusCode, body: &[u8]) -> Result<Outcome, GatewayError> {
    match read(status, body)? {
        Reply::Object(object) => Ok(refund_outcome(object.id, &object.status, object.failure_reason)),
        // The error may name the charge's PaymentIntent: not this refund's reference.
        Reply::Refused(error) if call == Call::Create => Ok(refusal(error, None)),
        Reply::Refused(error) => Err(not_a_decision(status, &error)),
    }
}

/// A Refund by its status: what a synchronous answer, a look-up and a refund webhook all say.
/// Only `failed` and `canceled` fail it; anything else not `succeeded` is still pending, so an
/// accepted refund is never given back to what may be refunded while it could still go through.
pub fn refund_outcome(refund: String, status: &str, failure_reason: Option<String>) -> Outcome {
    match status {
        "succeeded" => Outcome::Succeeded { reference: refund },
        "failed" | "canceled" => Outcome::Declined {
            reference: Some(refund),
            code: failure_reason.unwrap_or_else(|| "refund_failed".to_owned()),
            message: "The refund failed.".to_owned(),
        },
        _ => Outcome::Pending { reference: refund },
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
            let answer = self
                .post("/v1/payment_intents", &attempt.payment_id, &form)
                .await
                .and_then(|(status, body)| interpret_intent(Call::Create, status, &body));
            self.intent(&attempt.payment_id, answer).await
        })
    }

    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a> {
        Box::pin(async move {
            let form = [
                ("payment_intent", attempt.charge_reference.clone()),
                ("amount", attempt.amount_minor.to_string()),
                ("metadata[refund_id]", attempt.refund_id.clone()),
            ];
            let (status, body) = self.post("/v1/refunds", &attempt.refund_id, &form).await?;
            interpret_refund(Call::Create, status, &body)
        })
    }

    fn charge_status<'a>(&'a self, payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(async move {
            let path = object_path("/v1/payment_intents/", reference)?;
            let answer = self.get(&path).await.and_then(|(status, body)| interpret_intent(Call::Follow, status, &body));
            self.intent(payment_id, answer).await
        })
    }

    fn refund_status<'a>(&'a self, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(async move {
            let (status, body) = self.get(&object_path("/v1/refunds/", reference)?).await?;
            interpret_refund(Call::Follow, status, &body)
        })
    }

    fn cancel_charge<'a>(&'a self, payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(self.cancel(payment_id, reference))
    }

    /// Stripe's search (`GET /v1/payment_intents/search`) by the metadata every charge of ours
    /// carries, keeping only an intent of the payment's amount and currency. Search lags writes
    /// by up to a minute: a charge made by the last repeat before the maximum age may not be
    /// found yet, and is booked by its `payment_intent.succeeded` webhook (a late success).
    fn find_charge<'a>(&'a self, payment_id: &'a str, amount_minor: i64, currency: &'a str) -> SearchFuture<'a> {
        Box::pin(async move {
            // The id is ours (a UUID); anything else could change the query.
            if !payment_id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                return Err(GatewayError::Unavailable("not a payment id to search for".to_owned()));
            }
            let url = format!("{}/v1/payment_intents/search", self.base_url);
            let query = format!("metadata['payment_id']:'{payment_id}'");
            let (status, body) = self.send(self.client.get(url).query(&[("query", query)])).await?;
            if !status.is_success() {
                return Err(GatewayError::Unavailable(format!("Stripe answered the search with {status}")));
            }
            let found: SearchResult = serde_json::from_slice(&body)
                .map_err(|_| GatewayError::Unavailable("Stripe's search answer is not a search result".to_owned()))?;
            Ok(charge_of(found.data, amount_minor, currency))
        })
    }
}

/// The reference of the intent found that is of `amount_minor` in `currency`.
fn charge_of(found: Vec<Found>, amount_minor: i64, currency: &str) -> Option<String> {
    let ours = |intent: &Found| {
        intent.amount == Some(amount_minor)
            && intent.currency.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(currency))
    };
    found.into_iter().find(ours).map(|intent| intent.id)
}

/// A search's answer: the PaymentIntents found.
#[derive(Deserialize)]
struct SearchResult {
    data: Vec<Found>,
}

#[derive(Deserialize)]
struct Found {
    id: String,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(status: StatusCode, body: &[u8]) -> Result<Intent, GatewayError> {
        interpret_intent(Call::Create, status, body)
    }

    fn outcome(intent: Intent) -> Outcome {
        match intent {
            Intent::Outcome(outcome) => outcome,
            other => panic!("not an outcome: {other:?}"),
        }
    }

    #[test]
    fn a_search_finds_only_an_intent_of_the_payments_amount_and_currency() {
        let found: SearchResult = serde_json::from_str(
            r#"{"object":"search_result","data":[
                {"id":"pi_other","amount":1,"currency":"eur","metadata":{"payment_id":"p"}},
                {"id":"pi_usd","amount":1200,"currency":"usd"},
                {"id":"pi_ours","amount":1200,"currency":"eur"}],"has_more":false}"#,
        )
        .unwrap();
        assert_eq!(charge_of(found.data, 1200, "EUR"), Some("pi_ours".to_owned()));
        assert_eq!(charge_of(Vec::new(), 1200, "EUR"), None);
    }

    #[test]
    fn statuses_and_errors_map_to_outcomes() {
        let ok = outcome(create(StatusCode::OK, br#"{"id":"pi_1","status":"succeeded"}"#).unwrap());
        assert_eq!(ok, Outcome::Succeeded { reference: "pi_1".into() });
        let pending = outcome(create(StatusCode::OK, br#"{"id":"pi_2","status":"processing"}"#).unwrap());
        assert_eq!(pending, Outcome::Pending { reference: "pi_2".into() });
        let declined = outcome(
            create(
                StatusCode::PAYMENT_REQUIRED,
                br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
                 "message":"Your card has insufficient funds.","payment_intent":{"id":"pi_3"}}}"#,
            )
            .unwrap(),
        );
        assert!(matches!(declined, Outcome::Declined { code, reference: Some(r), .. }
            if code == "insufficient_funds" && r == "pi_3"));
        assert!(matches!(create(StatusCode::INTERNAL_SERVER_ERROR, b"oops"), Err(GatewayError::Unavailable(_))));
        assert!(matches!(create(StatusCode::TOO_MANY_REQUESTS, b"{}"), Err(GatewayError::Unavailable(_))));
        assert!(matches!(create(StatusCode::UNAUTHORIZED, b"{}"), Err(GatewayError::Unavailable(_))));
    }

    #[test]
    fn an_intent_waiting_for_3d_secure_is_not_left_pending() {
        let body = br#"{"id":"pi_4","status":"requires_action","next_action":{"type":"use_stripe_sdk"}}"#;
        assert_eq!(create(StatusCode::OK, body).unwrap(), Intent::NeedsAuthentication { reference: "pi_4".into() });
    }

    #[test]
    fn a_refused_look_up_is_no_answer_never_a_decline() {
        let missing =
            br#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such refund"}}"#;
        assert!(interpret_refund(Call::Follow, StatusCode::NOT_FOUND, missing).is_err());
        assert!(interpret_intent(Call::Follow, StatusCode::BAD_REQUEST, missing).is_err());
        // The same answer to a first request is Stripe's refusal.
        assert!(matches!(interpret_refund(Call::Create, StatusCode::NOT_FOUND, missing), Ok(Outcome::Declined { .. })));
    }

    #[test]
    fn only_a_failed_or_canceled_refund_is_declined() {
        let read = |body: &[u8]| interpret_refund(Call::Follow, StatusCode::OK, body).unwrap();
        assert_eq!(read(br#"{"id":"re_1","status":"succeeded"}"#), Outcome::Succeeded { reference: "re_1".into() });
        assert_eq!(read(br#"{"id":"re_1","status":"pending"}"#), Outcome::Pending { reference: "re_1".into() });
        assert_eq!(read(br#"{"id":"re_1","status":"requires_action"}"#), Outcome::Pending { reference: "re_1".into() });
        assert!(matches!(read(br#"{"id":"re_1","status":"failed","failure_reason":"expired_or_canceled_card"}"#),
            Outcome::Declined { code, reference: Some(r), .. } if code == "expired_or_canceled_card" && r == "re_1"));
        assert!(matches!(read(br#"{"id":"re_1","status":"canceled"}"#), Outcome::Declined { .. }));
    }

    #[test]
    fn a_cancel_refused_because_the_intent_succeeded_means_it_succeeded() {
        let cancelled = interpret_cancel(StatusCode::OK, br#"{"id":"pi_5","status":"canceled"}"#).unwrap();
        assert!(matches!(cancelled, Outcome::Declined { code, .. } if code == CANCELED));
        let too_late = br#"{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
            "payment_intent":{"id":"pi_5","status":"succeeded"}}}"#;
        assert_eq!(
            interpret_cancel(StatusCode::BAD_REQUEST, too_late).unwrap(),
            Outcome::Succeeded { reference: "pi_5".into() }
        );
        let processing = br#"{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
            "payment_intent":{"id":"pi_5","status":"processing"}}}"#;
        assert_eq!(
            interpret_cancel(StatusCode::BAD_REQUEST, processing).unwrap(),
            Outcome::Pending { reference: "pi_5".into() }
        );
        let unknown = br#"{"error":{"type":"invalid_request_error","code":"resource_missing"}}"#;
        assert!(interpret_cancel(StatusCode::NOT_FOUND, unknown).is_err());
    }

    #[test]
    fn stored_references_cannot_change_the_path() {
        assert_eq!(object_path("/v1/refunds/", "re_123").unwrap(), "/v1/refunds/re_123");
        for bad in ["", "re_1/../../v1/charges", "re_1?expand=x", "re 1"] {
            assert!(object_path("/v1/refunds/", bad).is_err(), "{bad}");
        }
    }
}
