//! The bodies the REST API answers with: the handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes the same types, so what is served and what is documented are one.
use crate::{
    readiness::Report,
    store::{payments::PaymentRow, refunds::RefundRow},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The webhook's answer: the event was taken (or had been taken before).
#[derive(Serialize, ToSchema)]
pub struct WebhookReceived {
    pub received: bool,
    /// True when this event id was applied before: nothing changed.
    pub duplicate: bool,
}

/// A sum of money: integer minor units and an ISO 4217 code.
#[derive(Serialize, ToSchema)]
pub struct Money {
    #[schema(example = 1250)]
    pub amount_minor: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

/// A support refund as it stands, with the payment it is part of.
#[derive(Serialize, ToSchema)]
pub struct SupportRefund {
    pub refund_id: String,
    pub payment_id: String,
    pub amount: Money,
    pub reason: String,
    /// `pending` (the gateway has not said yet), `succeeded` or `failed`.
    pub status: &'static str,
    /// `operator:<admin user id>`: who asked for it.
    pub requested_by: Option<String>,
    /// The payment's status after it: `partially_refunded` or `refunded`.
    pub payment_status: &'static str,
    /// Everything refunded of the payment so far, this refund included.
    pub refunded: Money,
}

impl SupportRefund {
    pub fn of(refund: &RefundRow, payment: &PaymentRow) -> Self {
        Self {
            refund_id: refund.id.clone(),
            payment_id: refund.payment_id.clone(),
            amount: Money { amount_minor: refund.amount_minor, currency: refund.currency.clone() },
            reason: refund.reason.clone(),
            status: refund.status.as_str(),
            requested_by: refund.requested_by.clone(),
            payment_status: payment.status.as_str(),
            refunded: Money { amount_minor: payment.refunded_minor, currency: payment.currency.clone() },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_webhook`, `unavailable`, …
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
    /// Each dependency (database, kafka): whether it answered, and why not.
    pub checks: Vec<crate::readiness::Check>,
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
