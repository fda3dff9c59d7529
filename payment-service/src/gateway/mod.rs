//! Payment gateways behind one trait: `stripe` (Stripe's PaymentIntents REST API) and
//! `sandbox` (deterministic outcomes by test card token, for local runs and benchmarks).
//! Every call carries an idempotency key, so repeating a call whose answer was lost (a
//! timeout) never charges twice: the gateway answers the repeat with the first outcome.
mod sandbox;
pub mod stripe;

pub use sandbox::Sandbox;
pub use stripe::Stripe;

use std::{future::Future, pin::Pin};

/// One charge, as the gateway sees it.
#[derive(Debug, Clone)]
pub struct ChargeAttempt {
    /// The payment id: the gateway's idempotency key for this charge.
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// The gateway's one-time payment method token (`tok_visa`...).
    pub payment_token: String,
}

/// One refund of (part of) a charge.
#[derive(Debug, Clone)]
pub struct RefundAttempt {
    /// The refund id: the gateway's idempotency key for this refund.
    pub refund_id: String,
    /// The gateway's reference of the charge.
    pub charge_reference: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// What the gateway decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        reference: String,
    },
    /// Final: a declined card, or a request the gateway refuses for good.
    Declined {
        reference: Option<String>,
        code: String,
        message: String,
    },
    /// Accepted but not final yet (asynchronous methods); a webhook or the reconciler settles it.
    Pending {
        reference: String,
    },
}

/// The gateway gave no decision; the same call may be repeated later (same idempotency key).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway did not answer in time")]
    Timeout,
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
}

pub type GatewayFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, GatewayError>> + Send + 'a>>;

pub trait Gateway: Send + Sync {
    /// Stored with each payment: which gateway holds it.
    fn name(&self) -> &'static str;
    fn charge<'a>(&'a self, attempt: &'a ChargeAttempt) -> GatewayFuture<'a>;
    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a>;
}
