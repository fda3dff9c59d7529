//! PayPal's REST API over reqwest: an OAuth2 client-credentials token, kept until shortly before
//! it expires and fetched again once when PayPal answers 401; Orders v2 (an order with intent
//! CAPTURE that the buyer approves on PayPal's page, then its capture); refunds of a capture;
//! look-ups; and PayPal's own check of a webhook's signature.
//!
//! Every call that creates something carries `PayPal-Request-Id` (the payment id for the order,
//! the caller's id of the capture attempt, the refund id for a refund): PayPal answers a repeat
//! with the first response, so a call whose answer was lost is repeated without a second order,
//! capture or refund. A refusal may be replayed too, so a new capture attempt takes a new id;
//! it cannot capture twice (PayPal refuses a captured order: `ORDER_ALREADY_CAPTURED`). The base URL is configurable: tests point it at a local mock of PayPal.
use super::{send, GatewayError, Outcome, RefundAttempt};
use crate::domain::currency;
use anyhow::Context;
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The name payments held by PayPal carry (`payments.gateway`).
pub const NAME: &str = "paypal";

/// The longest a token is kept before its end: PayPal's tokens last hours, and one that ends
/// while a request is on its way is answered 401.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The currencies PayPal takes (its REST API's currency codes).
const PAYPAL_CURRENCIES: &[&str] = &[
    "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "JPY", "MXN", "MYR", "NOK",
    "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "TWD", "USD",
];
/// Two-digit currencies in ISO 4217 that PayPal takes only in whole units.
const WHOLE_UNITS_ONLY: &[&str] = &["HUF", "TWD"];
/// Refund refusals that are PayPal's last word on this refund.
const FINAL_REFUND_ISSUES: &[&str] =
    &["REFUND_NOT_ALLOWED", "REFUND_TIME_LIMIT_EXCEEDED", "PERMISSION_DENIED", "REFUND_CAPTURE_CURRENCY_MISMATCH"];

pub struct PayPal {
    client: reqwest::Client,
    base_url: String,
    client_id: String,
    client_secret: SecretString,
    token: Mutex<Option<AccessToken>>,
}

struct AccessToken {
    value: SecretString,
    /// Fetched again from this instant on.
    renew_at: Instant,
}

/// An order to create: what the buyer approves.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// The payment id: the order's `PayPal-Request-Id`, `reference_id` and `custom_id`.
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// Where PayPal sends the buyer after approving, and after cancelling.
    pub return_url: String,
    pub cancel_url: String,
}

/// What creating an order came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The buyer approves at `approval_url`; the order is PayPal's `order_id`.
    AwaitingApproval { order_id: String, approval_url: String },
    /// PayPal refused the order for good (an amount or currency it does not take).
    Refused { code: String, message: String },
}

/// An order as a look-up finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    /// `CREATED`, `PAYER_ACTION_REQUIRED`, `APPROVED`, `COMPLETED`, `VOIDED`, ...
    pub status: String,
    /// The first capture of its first purchase unit, once captured.
    pub capture: Option<Capture>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub id: String,
    /// `COMPLETED`, `PENDING`, `DECLINED`, `FAILED`, `REFUNDED`, `PARTIALLY_REFUNDED`.
    pub status: String,
}

/// The headers PayPal signs a webhook with, as received.
#[derive(Debug, Clone, Default)]
pub struct WebhookSignature {
    pub auth_algo: String,
    pub cert_url: String,
    pub transmission_id: String,
    pub transmission_sig: String,
    pub transmission_time: String,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OrderReply {
    id: String,
    status: String,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    purchase_units: Vec<PurchaseUnit>,
}

#[derive(Deserialize)]
struct Link {
    href: String,
    rel: String,
}

#[derive(Deserialize)]
struct PurchaseUnit {
    #[serde(default)]
    amount: Option<Amount>,
    #[serde(default)]
    payments: Option<Payments>,
}

#[derive(Deserialize)]
struct Amount {
    currency_code: String,
    value: String,
}

#[derive(Deserialize)]
struct Payments {
    #[serde(default)]
    captures: Vec<CaptureReply>,
}

#[derive(Deserialize)]
struct CaptureReply {
    id: String,
    status: String,
}

/// A refund: an id and a status.
#[derive(Deserialize)]
struct RefundReply {
    id: String,
    status: String,
}

/// PayPal's error body: a name (`UNPROCESSABLE_ENTITY`) and the issues (`INSTRUMENT_DECLINED`).
#[derive(Deserialize, Default)]
struct ErrorReply {
    #[serde(default)]
    name: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<Issue>,
}

#[derive(Deserialize)]
struct Issue {
    #[serde(default)]
    issue: String,
    #[serde(default)]
    description: String,
}

impl ErrorReply {
    /// The first issue's code, or the error's name.
    fn code(&self) -> &str {
        self.details.first().map_or(self.name.as_str(), |issue| issue.issue.as_str())
    }

    fn text(&self) -> String {
        match self.details.first() {
            Some(issue) if !issue.description.is_empty() => issue.description.clone(),
            _ if !self.message.is_empty() => self.message.clone(),
            _ => "PayPal refused the request.".to_owned(),
        }
    }
}

impl PayPal {
    pub fn new(
        base_url: String,
        client_id: String,
        client_secret: SecretString,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .context("building the PayPal HTTP client")?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            token: Mutex::new(None),
        })
    }

    /// Creates the order (or, same payment id, answers the first creation's order).
    pub async fn create_order(&self, order: &OrderRequest) -> Result<Created, GatewayError> {
        let value = match paypal_value(order.amount_minor, &order.currency) {
            Ok(value) => value,
            Err((code, message)) => return Ok(Created::Refused { code, message }),
        };
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": order.payment_id,
                "custom_id": order.payment_id,
                "amount": {"currency_code": order.currency, "value": value},
            }],
            "payment_source": {"paypal": {"experience_context": {
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
                "return_url": order.return_url,
                "cancel_url": order.cancel_url,
            }}},
        });
        let (status, reply) = self.post("/v2/checkout/orders", &order.payment_id, &body).await?;
        if status.is_success() {
            let created: OrderReply = parse(status, &reply)?;
            // A repeated request id answers the first order: it must be this payment's amount.
            let amount = created.purchase_units.first().and_then(|unit| unit.amount.as_ref());
            if amount.is_some_and(|amount| amount.currency_code != order.currency || amount.value != value) {
                return Err(GatewayError::Unavailable(format!(
                    "PayPal's order {} for this request id is for another amount",
                    created.id
                )));
            }
            // With `payment_source.paypal` the buyer's link is `payer-action`; without, `approve`.
            let link = created.links.iter().find(|link| link.rel == "payer-action" || link.rel == "approve");
            return match link {
                Some(link) => Ok(Created::AwaitingApproval { order_id: created.id, approval_url: link.href.clone() }),
                None => Err(GatewayError::Unavailable(format!("PayPal's order {} has no approval link", created.id))),
            };
        }
        // Nothing was created: a refusal of the order is final.
        match refusal(status, &reply) {
            Some(error) if !error.code().is_empty() => {
                Ok(Created::Refused { code: error.code().to_owned(), message: error.text() })
            }
            _ => Err(no_answer("creating an order", status)),
        }
    }

    /// Captures an approved order; `request_id` names this attempt (a repeat of it answers the
    /// first outcome). `Succeeded` with the capture id; `Pending` with the order id while the
    /// buyer has not approved, or must choose another funding source (`INSTRUMENT_DECLINED`:
    /// PayPal sends the buyer back to the approval link), or with the capture id while PayPal
    /// holds the capture; `Declined` when PayPal will not capture this order at all. Capture
    /// once the order is `APPROVED` (a look-up, or a verified CHECKOUT.ORDER.APPROVED).
    pub async fn capture(&self, order_id: &str, request_id: &str) -> Result<Outcome, GatewayError> {
        let path = format!("/v2/checkout/orders/{}/capture", id_segment(order_id)?);
        let (status, reply) = self.post(&path, request_id, &json!({})).await?;
        if status.is_success() {
            let order: OrderReply = parse(status, &reply)?;
            return Ok(match first_capture(&order) {
                Some(capture) => capture_outcome(&capture),
                None => Outcome::Pending { reference: order.id },
            });
        }
        let Some(error) = refusal(status, &reply) else {
            return Err(no_answer("capturing an order", status));
        };
        match error.code() {
            "ORDER_NOT_APPROVED" | "PAYER_ACTION_REQUIRED" | "INSTRUMENT_DECLINED" => {
                Ok(Outcome::Pending { reference: order_id.to_owned() })
            }
            // Captured before (another attempt, or a request id PayPal forgot): its capture.
            "ORDER_ALREADY_CAPTURED" => {
                let order = self.order(order_id).await?;
                Ok(order.capture.as_ref().map_or(Outcome::Pending { reference: order.id.clone() }, capture_outcome))
            }
            "ORDER_EXPIRED"
            | "ORDER_VOIDED"
            | "ORDER_CANNOT_BE_SAVED"
            | "PAYER_CANNOT_PAY"
            | "TRANSACTION_REFUSED"
            | "PAYEE_ACCOUNT_RESTRICTED"
            | "PAYEE_ACCOUNT_LOCKED_OR_CLOSED" => {
                Ok(Outcome::Declined { reference: None, code: error.code().to_owned(), message: error.text() })
            }
            // Anything else decides nothing: the order is looked up later.
            code => Err(GatewayError::Refused(format!("PayPal refused the capture ({status} {code})"))),
        }
    }

    /// The order as PayPal has it now.
    pub async fn order(&self, order_id: &str) -> Result<Order, GatewayError> {
        self.find_order(order_id).await?.ok_or_else(|| no_answer("looking up an order", StatusCode::NOT_FOUND))
    }

    /// The order as PayPal has it now, or `None` when PayPal has no such order (404: never
    /// created, or lapsed uncaptured and gone).
    pub async fn find_order(&self, order_id: &str) -> Result<Option<Order>, GatewayError> {
        let path = format!("/v2/checkout/orders/{}", id_segment(order_id)?);
        let (status, reply) = self.get(&path).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(no_answer("looking up an order", status));
        }
        let order: OrderReply = parse(status, &reply)?;
        let capture = first_capture(&order);
        Ok(Some(Order { id: order.id, status: order.status, capture }))
    }

    /// Refunds (part of) a capture (`charge_reference`), or answers the first refund's outcome.
    pub async fn refund(&self, attempt: &RefundAttempt) -> Result<Outcome, GatewayError> {
        let path = format!("/v2/payments/captures/{}/refund", id_segment(&attempt.charge_reference)?);
        let value = match paypal_value(attempt.amount_minor, &attempt.currency) {
            Ok(value) => value,
            Err((code, message)) => return Ok(Outcome::Declined { reference: None, code, message }),
        };
        // The refund id rides along, so that the refund can be recognised on PayPal's side.
        let body = json!({
            "amount": {"currency_code": attempt.currency, "value": value},
            "invoice_id": attempt.refund_id,
        });
        let (status, reply) = self.post(&path, &attempt.refund_id, &body).await?;
        if status.is_success() {
            let refund: RefundReply = parse(status, &reply)?;
            return Ok(refund_outcome(refund));
        }
        match refusal(status, &reply) {
            // PayPal will not refund this capture: past its time limit, or not allowed.
            Some(error) if FINAL_REFUND_ISSUES.contains(&error.code()) => {
                Ok(Outcome::Declined { reference: None, code: error.code().to_owned(), message: error.text() })
            }
            // Others decide nothing about this refund (`CAPTURE_FULLY_REFUNDED` after PayPal forgot
            // the request id may be this very refund, made): no outcome.
            Some(error) => {
                Err(GatewayError::Unavailable(format!("PayPal refused the refund ({status} {})", error.code())))
            }
            None => Err(no_answer("refunding a capture", status)),
        }
    }

    /// The current state of a refund PayPal accepted.
    pub async fn refund_status(&self, refund_id: &str) -> Result<Outcome, GatewayError> {
        let path = format!("/v2/payments/refunds/{}", id_segment(refund_id)?);
        let (status, reply) = self.get(&path).await?;
        if !status.is_success() {
            return Err(no_answer("looking up a refund", status));
        }
        Ok(refund_outcome(parse(status, &reply)?))
    }

    /// Asks PayPal whether `event` (the webhook's body, as received) was signed by PayPal for
    /// the webhook `webhook_id`: true only for PayPal's `SUCCESS`. Nothing in the event may be
    /// believed before. PayPal not answering is an error (the webhook is asked again later).
    pub async fn verify_webhook(
        &self,
        webhook_id: &str,
        signature: &WebhookSignature,
        event: &[u8],
    ) -> Result<bool, GatewayError> {
        // The event goes back to PayPal byte for byte: parsed and written again, its keys would
        // be reordered and PayPal's check would fail for every genuine event.
        let Some(event) = std::str::from_utf8(event).ok().filter(|text| is_json_object(text)) else {
            return Ok(false);
        };
        let fields = json!({
            "auth_algo": signature.auth_algo,
            "cert_url": signature.cert_url,
            "transmission_id": signature.transmission_id,
            "transmission_sig": signature.transmission_sig,
            "transmission_time": signature.transmission_time,
            "webhook_id": webhook_id,
        })
        .to_string();
        // `{...fields}` becomes `{...fields,"webhook_event":<event>}`.
        let body = format!("{},\"webhook_event\":{event}}}", fields.trim_end_matches('}'));
        let url = format!("{}/v1/notifications/verify-webhook-signature", self.base_url);
        let (status, reply) = self
            .authorised(|token| {
                self.client.post(&url).bearer_auth(token).header("Content-Type", "application/json").body(body.clone())
            })
            .await?;
        // PayPal refusing the check itself (headers missing or malformed) is no verification.
        if matches!(status.as_u16(), 400 | 422) {
            return Ok(false);
        }
        if !status.is_success() {
            return Err(no_answer("verifying a webhook", status));
        }
        #[derive(Deserialize)]
        struct Verification {
            verification_status: String,
        }
        let verification: Verification = parse(status, &reply)?;
        Ok(verification.verification_status == "SUCCESS")
    }

    async fn post(&self, path: &str, request_id: &str, body: &Value) -> Result<(StatusCode, Vec<u8>), GatewayError> {
        let url = format!("{}{path}", self.base_url);
        self.authorised(|token| {
            self.client
                .post(&url)
                .bearer_auth(token)
                .header("PayPal-Request-Id", request_id)
                .header("Prefer", "return=representation")
                .json(body)
        })
        .await
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Vec<u8>), GatewayError> {
        let url = format!("{}{path}", self.base_url);
        self.authorised(|token| self.client.get(&url).bearer_auth(token)).await
    }

    /// Sends the request with the current token; once more with a new token when PayPal answers
    /// 401 (the token was revoked or ended early), never more.
    async fn authorised(
        &self,
        request: impl Fn(&str) -> RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), GatewayError> {
        let token = self.token(None).await?;
        let answer = send(request(token.expose_secret())).await?;
        if answer.0 != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let token = self.token(Some(&token)).await?;
        send(request(token.expose_secret())).await
    }

    /// The kept token, or a new one when there is none, it is due, or it is `refused` (PayPal
    /// answered 401 to it; a token another call renewed meanwhile is kept).
    async fn token(&self, refused: Option<&SecretString>) -> Result<SecretString, GatewayError> {
        // Held while fetching: concurrent calls wait for the one new token.
        let mut kept = self.token.lock().await;
        let usable = |token: &&AccessToken| {
            Instant::now() < token.renew_at
                && refused.is_none_or(|refused| refused.expose_secret() != token.value.expose_secret())
        };
        if let Some(token) = kept.as_ref().filter(usable) {
            return Ok(token.value.clone());
        }
        let url = format!("{}/v1/oauth2/token", self.base_url);
        let request = self
            .client
            .post(url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")]);
        let (status, reply) = send(request).await?;
        if !status.is_success() {
            *kept = None;
            // Never the credentials or PayPal's body, which may echo them.
            let what = if status == StatusCode::UNAUTHORIZED {
                "refused this service's credentials"
            } else {
                "did not issue a token"
            };
            return Err(GatewayError::Unavailable(format!("PayPal {what} ({status})")));
        }
        let reply: TokenReply = parse(status, &reply)?;
        // At least a second, at most a day: a token of 0 s would be asked for on every call.
        let lifetime = Duration::from_secs(reply.expires_in.clamp(1, 86_400));
        let renew_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN).max(lifetime / 2);
        let value = SecretString::from(reply.access_token);
        *kept = Some(AccessToken { value: value.clone(), renew_at });
        Ok(value)
    }
}

fn is_json_object(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|value| value.is_object())
}

fn parse<T: serde::de::DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body)
        .map_err(|_| GatewayError::Unavailable(format!("PayPal answered {status} with an unexpected body")))
}

/// A 400 or 422 with PayPal's error body: a refusal of this request for good. Anything else
/// (401 twice, 404 of a look-up, 409 while the first request with the id is in flight, 5xx) is
/// no decision.
fn refusal(status: StatusCode, body: &[u8]) -> Option<ErrorReply> {
    matches!(status.as_u16(), 400 | 422).then(|| serde_json::from_slice(body).unwrap_or_default())
}

fn no_answer(doing: &str, status: StatusCode) -> GatewayError {
    GatewayError::Unavailable(format!("PayPal answered {status} {doing}"))
}

/// The amount as PayPal's `value`, or why PayPal cannot take it (code, message): a currency it
/// does not take, or a fraction of a currency it takes only whole (HUF, TWD).
pub fn paypal_value(amount_minor: i64, code: &str) -> Result<String, (String, String)> {
    if !PAYPAL_CURRENCIES.contains(&code) {
        return Err(("CURRENCY_NOT_SUPPORTED".to_owned(), format!("PayPal does not take {code}.")));
    }
    if WHOLE_UNITS_ONLY.contains(&code) {
        let scale = 10_i64.pow(currency::minor_unit_digits(code));
        if amount_minor % scale != 0 {
            return Err(("DECIMALS_NOT_SUPPORTED".to_owned(), format!("PayPal takes {code} in whole units only.")));
        }
        return Ok((amount_minor / scale).to_string());
    }
    Ok(currency::decimal(amount_minor, code))
}

/// An id from our store put in a path: PayPal's ids are letters, digits and dashes.
fn id_segment(id: &str) -> Result<&str, GatewayError> {
    let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(id)
    } else {
        Err(GatewayError::Unavailable("the stored gateway reference is not a PayPal id".to_owned()))
    }
}

fn first_capture(order: &OrderReply) -> Option<Capture> {
    let capture = order.purchase_units.first()?.payments.as_ref()?.captures.first()?;
    Some(Capture { id: capture.id.clone(), status: capture.status.clone() })
}

pub fn capture_outcome(capture: &Capture) -> Outcome {
    let reference = capture.id.clone();
    match capture.status.as_str() {
        "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED" => Outcome::Succeeded { reference },
        "DECLINED" | "FAILED" => Outcome::Declined {
            reference: Some(reference),
            code: capture.status.to_ascii_lowercase(),
            message: "PayPal declined the capture.".to_owned(),
        },
        _ => Outcome::Pending { reference },
    }
}

fn refund_outcome(refund: RefundReply) -> Outcome {
    refund_status_outcome(refund.id, &refund.status)
}

/// A refund's outcome by its status (`id` is PayPal's refund id).
pub fn refund_status_outcome(id: String, status: &str) -> Outcome {
    match status {
        "COMPLETED" => Outcome::Succeeded { reference: id },
        "FAILED" | "CANCELLED" => Outcome::Declined {
            code: status.to_ascii_lowercase(),
            message: "PayPal did not make the refund.".to_owned(),
            reference: Some(id),
        },
        _ => Outcome::Pending { reference: id },
    }
}
