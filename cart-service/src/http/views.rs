//! The bodies the REST API answers with: the handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes the same types, so what is served and what is documented are one.
use crate::{
    checkout::{Amount, BoughtLine, Summary},
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

/// A checkout's outcome: `paid` (201) or `pending` (202: the gateway has not decided; the
/// payment's event finishes it).
#[derive(Serialize, ToSchema)]
pub struct CheckoutSummary {
    pub checkout_id: String,
    pub payment_id: String,
    #[schema(pattern = "^(paid|pending)$")]
    pub status: &'static str,
    pub lines: Vec<PaidLine>,
    pub total: Money,
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
    /// `status`: `paid` or `pending`.
    pub fn of(summary: Summary, status: &'static str) -> Self {
        Self {
            checkout_id: summary.checkout_id,
            payment_id: summary.payment_id,
            status,
            lines: summary.lines.into_iter().map(PaidLine::from).collect(),
            total: summary.total.into(),
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
