//! How a checkout ends, in cart's own terms: the HTTP layer picks the status and body
//! (`http/views.rs`), the record keeps it for retries with the same key (`record.rs`).
use crate::proto::shop::{common::v1::Money, product::v1::Reservation};
use serde::{Deserialize, Serialize};

/// A checkout that went through: sold, or charged with the gateway still deciding. A decline
/// and every other refusal is a `CartError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Paid: the stock committed, the bought quantities out of the cart.
    Paid(Summary),
    /// The gateway has not decided, or (PayPal, `approval_url` set) the buyer has to approve;
    /// the payment's event finishes the checkout.
    Pending(Summary),
}

/// What a checkout bought and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub checkout_id: String,
    pub payment_id: String,
    pub lines: Vec<BoughtLine>,
    pub total: Amount,
    /// PayPal's page where the buyer approves the payment, while it waits for that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoughtLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Amount,
}

/// Integer minor units of a currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub amount_minor: i64,
    pub currency: String,
}

impl From<Money> for Amount {
    fn from(money: Money) -> Self {
        Self { amount_minor: money.amount_minor, currency: money.currency }
    }
}

impl Summary {
    /// The reservation's lines and total, paid by `payment_id`.
    pub fn of(checkout_id: &str, payment_id: &str, reservation: &Reservation) -> Self {
        Self {
            checkout_id: checkout_id.to_owned(),
            payment_id: payment_id.to_owned(),
            lines: reservation
                .lines
                .iter()
                .map(|line| BoughtLine {
                    product_id: line.product_id.clone(),
                    name: line.name.clone(),
                    quantity: line.quantity,
                    unit_price: line.unit_price.clone().map(Amount::from).unwrap_or_default(),
                })
                .collect(),
            total: reservation.total.clone().map(Amount::from).unwrap_or_default(),
            approval_url: None,
        }
    }

    /// The same summary, with the approval link payment answered (none when it is empty).
    pub fn awaiting(self, approval_url: &str) -> Self {
        Self { approval_url: Some(approval_url.to_owned()).filter(|url| !url.is_empty()), ..self }
    }
}
