//! Payment gateways behind one trait: for cards `stripe` (Stripe's PaymentIntents REST API) or
//! `sandbox` (deterministic outcomes by test card token, for local runs and benchmarks); and
//! `paypal` (PayPal's Orders API), whose charges wait for the buyer's approval (`approvals.rs`
//! captures them).
//! Every call carries an idempotency key, so repeating a call whose answer was lost (a
//! timeout) never charges twice: the gateway answers the repeat with the first outcome.
pub mod paypal;
mod paypal_gateway;
mod sandbox;
pub mod stripe;

pub use paypal_gateway::PayPalGateway;
pub use sandbox::Sandbox;
pub use stripe::Stripe;

use reqwest::StatusCode;
use std::{future::Future, pin::Pin, sync::Arc};

/// One charge, as the gateway sees it.
#[derive(Debug, Clone)]
pub struct ChargeAttempt {
    /// The payment id: the gateway's idempotency key for this charge.
    pub payment_id: String,
    /// The checkout (order) paid for: PayPal's return link names it.
    pub order_id: String,
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
    /// Accepted but not final yet (asynchronous methods); a webhook or the reconciler (asking
    /// `charge_status` / `refund_status`) settles it.
    Pending {
        reference: String,
    },
    /// Accepted, and waiting for the buyer to approve it at `approval_url` (PayPal): nothing is
    /// taken until this service captures the approved order.
    AwaitingApproval {
        reference: String,
        approval_url: String,
    },
}

/// The gateway gave no decision; the same call may be repeated later (same idempotency key).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway did not answer in time")]
    Timeout,
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
    /// The gateway refused the request itself (a 4xx it gives no meaning for the money): it did
    /// nothing, and a repeat would be refused alike. Followed up like no answer, except where
    /// "did nothing" decides (`approvals::give_up`).
    #[error("the gateway refused the request: {0}")]
    Refused(String),
}

pub type GatewayFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, GatewayError>> + Send + 'a>>;
/// A search's answer: the reference of what was found, or `None` when the gateway has nothing.
pub type SearchFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, GatewayError>> + Send + 'a>>;

/// A `Declined` outcome's code for an intent the gateway confirmed as cancelled (callers relabel
/// it with why they cancelled: `authentication_required`, `gateway_timeout`).
pub const CANCELED: &str = "canceled";

pub trait Gateway: Send + Sync {
    /// Stored with each payment: which gateway holds it.
    fn name(&self) -> &'static str;
    /// Creates the charge, or (same idempotency key) answers the first attempt's outcome. Repeat
    /// it only while the gateway has not answered at all and its key is still remembered.
    fn charge<'a>(&'a self, attempt: &'a ChargeAttempt) -> GatewayFuture<'a>;
    /// Creates the refund, or (same idempotency key) answers the first attempt's outcome; the
    /// same rules as `charge`.
    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a>;
    /// The current state of a charge the gateway accepted (`reference`), for a pending payment:
    /// a repeated `charge` would only replay the first answer. A refusal to answer the look-up
    /// is an error, never a `Declined`: it says nothing about the charge. A gateway may finish a
    /// charge that can no longer complete before answering (Stripe cancels an intent waiting for
    /// 3-D Secure, which our intents cannot do), hence the payment id (its cancel key).
    fn charge_status<'a>(&'a self, payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a>;
    /// The current state of a refund the gateway accepted (`reference`); as `charge_status`, a
    /// refused look-up is an error, so only the gateway saying the refund failed is `Declined`.
    fn refund_status<'a>(&'a self, reference: &'a str) -> GatewayFuture<'a>;
    /// Cancels a charge that is not final (idempotency key `cancel-<payment id>`): `Declined`
    /// with code `CANCELED` once it is cancelled, `Succeeded` when it had already succeeded,
    /// `Pending` when it can no longer be cancelled but is not final yet (processing).
    fn cancel_charge<'a>(&'a self, payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a>;
    /// The reference of the charge the gateway made for `payment_id` (of `amount_minor` in
    /// `currency`), found by what the charge carries (Stripe: the PaymentIntent's
    /// `metadata.payment_id`, its amount and currency: metadata alone anyone with the account's
    /// keys can write), for a payment none of whose answers arrived and whose idempotency key may
    /// be forgotten by now. `None` only when the gateway says it has no such charge; a search it
    /// does not answer is an error.
    fn find_charge<'a>(&'a self, payment_id: &'a str, amount_minor: i64, currency: &'a str) -> SearchFuture<'a>;
}

/// The gateways of one payment-service: the card gateway, and PayPal where an account is
/// configured. A payment remembers which one holds it (`payments.gateway`).
#[derive(Clone)]
pub struct Gateways {
    pub card: Arc<dyn Gateway>,
    pub paypal: Option<crate::approvals::PayPalCheckout>,
}

impl Gateways {
    /// The gateway holding a payment that names `name`: PayPal's, or else the card gateway (a
    /// card payment is followed by the card gateway configured now, as it always was).
    pub fn holding(&self, name: &str) -> Result<&dyn Gateway, GatewayError> {
        if name != paypal::NAME {
            return Ok(self.card.as_ref());
        }
        match &self.paypal {
            Some(paypal) => Ok(paypal.gateway.as_ref()),
            None => Err(no_paypal_here()),
        }
    }
}

/// A PayPal payment on a replica configured without PayPal: no answer, until it is configured.
pub fn no_paypal_here() -> GatewayError {
    GatewayError::Unavailable("this replica has no PayPal account configured".to_owned())
}

/// Sends one request to a gateway and reads its whole answer. Not reaching the gateway, or
/// losing its answer, is no decision: the call may be repeated with the same idempotency key.
async fn send(request: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>), GatewayError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport_error)?;
    Ok((status, body.to_vec()))
}

fn transport_error(error: reqwest::Error) -> GatewayError {
    if error.is_timeout() {
        GatewayError::Timeout
    } else {
        // Never the URL (an id, a query) or a header (a key): reqwest's Display without the URL.
        GatewayError::Unavailable(format!("{}", error.without_url()))
    }
}
