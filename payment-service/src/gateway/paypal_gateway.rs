//! PayPal behind the `Gateway` trait. A charge creates an order the buyer approves on PayPal's
//! page (`AwaitingApproval`, with the link); capturing it is not the gateway's call but the
//! saga's (`approvals.rs`), since an approved order is captured only while its stock is held.
//! So the look-ups here never capture: they tell what PayPal has, and the reconciler's PayPal
//! path decides.
use super::{
    paypal::{Created, OrderRequest, PayPal, NAME},
    ChargeAttempt, Gateway, GatewayFuture, Outcome, RefundAttempt, SearchFuture, CANCELED,
};

pub struct PayPalGateway {
    pub api: PayPal,
    /// Where PayPal sends the buyer after approving, and after cancelling; `{order_id}` in
    /// either is replaced by the checkout's order id.
    return_url: String,
    cancel_url: String,
}

impl PayPalGateway {
    pub fn new(api: PayPal, return_url: String, cancel_url: String) -> Self {
        Self { api, return_url, cancel_url }
    }

    async fn create(&self, attempt: &ChargeAttempt) -> Result<Outcome, super::GatewayError> {
        let order = OrderRequest {
            payment_id: attempt.payment_id.clone(),
            amount_minor: attempt.amount_minor,
            currency: attempt.currency.clone(),
            return_url: self.return_url.replace("{order_id}", &attempt.order_id),
            cancel_url: self.cancel_url.replace("{order_id}", &attempt.order_id),
        };
        Ok(match self.api.create_order(&order).await? {
            Created::AwaitingApproval { order_id, approval_url } => {
                Outcome::AwaitingApproval { reference: order_id, approval_url }
            }
            Created::Refused { code, message } => Outcome::Declined { reference: None, code, message },
        })
    }

    /// What PayPal has for the order, without capturing: a capture's outcome once captured,
    /// `Declined` for a voided order, else `Pending` (approved or not, the saga decides).
    async fn look_up(&self, order_id: &str) -> Result<Outcome, super::GatewayError> {
        let order = self.api.order(order_id).await?;
        Ok(match (order.status.as_str(), &order.capture) {
            (_, Some(capture)) => super::paypal::capture_outcome(capture),
            ("VOIDED", None) => Outcome::Declined {
                reference: None,
                code: "voided".to_owned(),
                message: "PayPal voided the order.".to_owned(),
            },
            _ => Outcome::Pending { reference: order.id },
        })
    }
}

impl Gateway for PayPalGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn charge<'a>(&'a self, attempt: &'a ChargeAttempt) -> GatewayFuture<'a> {
        Box::pin(self.create(attempt))
    }

    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a> {
        Box::pin(self.api.refund(attempt))
    }

    fn charge_status<'a>(&'a self, _payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(self.look_up(reference))
    }

    fn refund_status<'a>(&'a self, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(self.api.refund_status(reference))
    }

    /// Orders with intent CAPTURE cannot be voided through the API: an order this service gives
    /// up is never captured by it, and PayPal lets it lapse. So it counts as cancelled unless
    /// it was captured already.
    fn cancel_charge<'a>(&'a self, _payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(async move {
            Ok(match self.look_up(reference).await? {
                Outcome::Pending { .. } | Outcome::AwaitingApproval { .. } => Outcome::Declined {
                    reference: Some(reference.to_owned()),
                    code: CANCELED.to_owned(),
                    message: "The PayPal order was given up uncaptured.".to_owned(),
                },
                settled => settled,
            })
        })
    }

    /// Money moves only when this service captures an order, and it captures only orders whose
    /// id it stored: an order whose creation went unanswered was never captured. So nothing
    /// is found, truthfully.
    fn find_charge<'a>(&'a self, _payment_id: &'a str, _amount_minor: i64, _currency: &'a str) -> SearchFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}
