//! The bodies the REST API answers with: the handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes the same types, so what is served and what is documented are one.
use crate::{
    domain::Role,
    readiness::Report,
    store::{orders::OrderRow, users::UserRow},
    tokens::PublicKey,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Money: integer minor units and an ISO 4217 code.
#[derive(Serialize, ToSchema)]
pub struct Money {
    pub amount_minor: i64,
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignedUp {
    #[schema(value_type = String, format = "uuid")]
    pub user_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[schema(value_type = String, format = "uuid")]
    pub user_id: Uuid,
    #[schema(format = "email")]
    pub email: String,
    pub roles: Vec<Role>,
    #[schema(value_type = String, format = "date-time")]
    pub created_at: DateTime<Utc>,
}

/// A paid order, from payment's events.
#[derive(Serialize, ToSchema)]
pub struct Order {
    #[schema(format = "uuid")]
    pub payment_id: String,
    pub order_id: String,
    pub total: Money,
    pub refunded: Money,
    /// The order lines as payment reported them (product id, name, quantity, unit price).
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    #[schema(value_type = String, format = "date-time")]
    pub paid_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Orders {
    /// Newest first, at most 100.
    pub orders: Vec<Order>,
}

/// An Ed25519 public key (RFC 8037).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    #[schema(pattern = "^OKP$")]
    pub kty: &'static str,
    #[schema(pattern = "^Ed25519$")]
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub usage: &'static str,
    pub alg: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `invalid_credentials`, `email_taken`, …
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

impl From<UserRow> for Me {
    fn from(user: UserRow) -> Self {
        Self { user_id: user.id, email: user.email, roles: Role::parse_all(&user.roles), created_at: user.created_at }
    }
}

impl From<OrderRow> for Order {
    fn from(order: OrderRow) -> Self {
        Self {
            payment_id: order.payment_id,
            order_id: order.order_id,
            total: Money { amount_minor: order.amount_minor, currency: order.currency.clone() },
            refunded: Money { amount_minor: order.refunded_minor, currency: order.currency },
            lines: order.lines,
            paid_at: order.paid_at,
        }
    }
}

impl From<&[PublicKey]> for JwkSet {
    fn from(keys: &[PublicKey]) -> Self {
        let keys = keys
            .iter()
            .map(|key| Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: key.x.clone(),
                kid: key.kid.clone(),
                usage: "sig",
                alg: "EdDSA",
            })
            .collect();
        Self { keys }
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
