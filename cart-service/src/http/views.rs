//! The bodies the REST API answers with: the handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes the same types, so what is served and what is documented are one.
use crate::{
    checkout::{Amount, BoughtLine, Outcome},
    error::CartError,
    proto::shop::common::v1::Money as MoneyMessage,
    readiness::Report,
    store::Line as CartLine,
};
use serde::Serialize;
use utoipa::ToSchema;

/// Money: integer minor units and an ISO 4217 code (empty for an empty cart's total).
#[derive(Serialize, ToSchema)]
pub struct Money {
    #[schema(example = 1250)]
    pub amount_minor: i64,
    #[schema(pattern = "^([A-Z]{3})?$", example = "EUR")]
    pub currency: String,
}

/// A line: the product as it was when added (name, price), kept up to date by product events.
#[derive(Serialize, ToSchema)]
pub struct Line {
    #[schema(format = "uuid")]
    pub product_id: String,
    pub name: String,
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
    pub unit_price: Money,
    /// False once the product is out of stock or no longer sold: checkout refuses the cart.
    pub available: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Cart {
    #[schema(format = "uuid")]
    pub user_id: String,
    #[schema(max_items = 100)]
    pub lines: Vec<Line>,
    pub total: Money,
}

/// A bought line, as the checkout's answer lists it.
#[derive(Serialize, ToSchema)]
pub struct PaidLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

/// A checkout's outcome: `paid` (201), `pending` (202: the gateway has not decided; the
/// payment's event finishes it) or `requires_approval` (202: PayPal; send the buyer to
/// `approval_url`, then follow `GET /v1/cart/checkout/{checkout_id}`).
#[derive(Serialize, ToSchema)]
pub struct CheckoutSummary {
    pub checkout_id: String,
    pub payment_id: String,
    #[schema(pattern = "^(paid|pending|requires_approval)$")]
    pub status: &'static str,
    pub lines: Vec<PaidLine>,
    pub total: Money,
    /// PayPal's page where the buyer approves the payment (`requires_approval` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
}

/// Where a checkout stands (`GET /v1/cart/checkout/{checkout_id}`): `in_progress` (a request is
/// running it), `interrupted` (a step failed or its replica died: retry the checkout with its
/// Idempotency-Key), `paid`, `pending`, `requires_approval` (with `approval_url`), `declined` (nothing
/// taken, the stock released; `error` says why: `approval_expired` when a PayPal buyer did not
/// approve in time) or `not_sold` (paid but not sold: the money is refunded; `error` says why).
#[derive(Serialize, ToSchema)]
pub struct CheckoutState {
    pub checkout_id: String,
    #[schema(pattern = "^(in_progress|interrupted|paid|pending|requires_approval|declined|not_sold)$")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<PaidLine>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `product_not_found`, `cart_empty`, …
    pub code: &'static str,
    /// For people; never contains secrets.
    pub message: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency (redis, kafka): whether it answered, and why not.
    pub checks: Vec<crate::readiness::Check>,
}

impl From<MoneyMessage> for Money {
    fn from(money: MoneyMessage) -> Self {
        Self { amount_minor: money.amount_minor, currency: money.currency }
    }
}

impl From<Amount> for Money {
    fn from(amount: Amount) -> Self {
        Self { amount_minor: amount.amount_minor, currency: amount.currency }
    }
}

impl Cart {
    pub fn of(user_id: &str, lines: Vec<CartLine>) -> Self {
        let total = crate::carts::total(&lines).into();
        let lines = lines
            .into_iter()
            .map(|line| Line {
                product_id: line.product_id,
                name: line.name,
                quantity: line.quantity,
                unit_price: line.unit_price.into(),
                available: line.available,
            })
            .collect();
        Self { user_id: user_id.to_owned(), lines, total }
    }
}

impl From<BoughtLine> for PaidLine {
    fn from(line: BoughtLine) -> Self {
        Self {
            product_id: line.product_id,
            name: line.name,
            quantity: line.quantity,
            unit_price: line.unit_price.into(),
        }
    }
}

impl CheckoutSummary {
    /// The outcome's answer: `paid`, or `pending` / `requires_approval` (an approval link).
    pub fn of(outcome: Outcome) -> Self {
        let (summary, status) = match outcome {
            Outcome::Paid(summary) => (summary, "paid"),
            Outcome::Pending(summary) if summary.approval_url.is_some() => (summary, "requires_approval"),
            Outcome::Pending(summary) => (summary, "pending"),
        };
        Self {
            checkout_id: summary.checkout_id,
            payment_id: summary.payment_id,
            status,
            lines: summary.lines.into_iter().map(PaidLine::from).collect(),
            total: summary.total.into(),
            approval_url: summary.approval_url,
        }
    }
}

impl CheckoutState {
    /// A checkout without an outcome (`in_progress`, `interrupted`), or one that ended without a
    /// sale (`declined`, `not_sold`) and why.
    pub fn ended(checkout_id: String, status: &'static str, error: Option<&CartError>) -> Self {
        Self {
            checkout_id,
            status,
            payment_id: None,
            lines: None,
            total: None,
            approval_url: None,
            error: error.map(|error| ErrorDetail { code: error.code(), message: error.to_string() }),
        }
    }

    pub fn of(outcome: Outcome) -> Self {
        let summary = CheckoutSummary::of(outcome);
        Self {
            checkout_id: summary.checkout_id,
            status: summary.status,
            payment_id: Some(summary.payment_id),
            lines: Some(summary.lines),
            total: Some(summary.total),
            approval_url: summary.approval_url,
            error: None,
        }
    }
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into() } }
    }
}

impl From<Report> for Readiness {
    fn from(report: Report) -> Self {
        Self { status: if report.ready { "ready" } else { "unavailable" }, checks: report.checks }
    }
}
