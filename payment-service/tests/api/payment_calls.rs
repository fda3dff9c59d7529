//! The gRPC calls the money tests make as a shopper, and how they read a payment.
use crate::helpers::{authed, Shopper, TestApp};
use payment_service::proto::shop::{
    common::v1::Money,
    payment::v1::{ChargeRequest, GetPaymentRequest, OrderLine, Payment, PaymentStatus},
};
use std::time::Duration;

pub fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money { amount_minor, currency: "EUR".to_owned() })
}

/// A charge of one line of `amount_minor` euros for `order_id`.
pub fn charge_request(key: &str, order_id: &str, amount_minor: i64, token: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.to_owned(),
        order_id: order_id.to_owned(),
        amount: eur(amount_minor),
        payment_token: token.to_owned(),
        lines: vec![OrderLine {
            product_id: "0196f3c0-0000-7000-8000-000000000001".to_owned(),
            name: "Enamel mug".to_owned(),
            quantity: 1,
            unit_price: eur(amount_minor),
        }],
        ..Default::default()
    }
}

pub async fn charge(app: &TestApp, shopper: &Shopper, request: ChargeRequest) -> Result<Payment, tonic::Status> {
    app.payments().await.charge(authed(request, &shopper.token)).await.map(|r| r.into_inner().payment.unwrap())
}

pub async fn get(app: &TestApp, shopper: &Shopper, id: &str) -> Payment {
    let request = authed(GetPaymentRequest { payment_id: id.to_owned() }, &shopper.token);
    app.payments().await.get_payment(request).await.unwrap().into_inner().payment.unwrap()
}

pub fn status(payment: &Payment) -> PaymentStatus {
    PaymentStatus::try_from(payment.status).unwrap()
}

/// Polls the payment until `done` holds, for up to 30 s (the consumer's first join takes a few
/// seconds); its last answer.
pub async fn wait_for(app: &TestApp, shopper: &Shopper, id: &str, done: impl Fn(&Payment) -> bool) -> Payment {
    let mut payment = get(app, shopper, id).await;
    for _ in 0..300 {
        if done(&payment) {
            return payment;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        payment = get(app, shopper, id).await;
    }
    payment
}
