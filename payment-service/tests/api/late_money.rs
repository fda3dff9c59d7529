//! Money kept without a sale, round 2 (issue 36): paths where a shopper pays and gets nothing,
//! each ending in an automatic refund. Against real MariaDB, the real broker and the local mock
//! of Stripe's API; the webhooks are signed as Stripe signs them.
use crate::{
    helpers::{authed, count, publish_release, released_envelope, stripe_app, webhook, Shopper, TestApp},
    payment_calls::{charge, charge_request, eur, get, status, wait_for},
    stripe_mock::StripeMock,
};
use payment_service::proto::shop::payment::v1::{Payment, PaymentStatus, RefundRequest};
use serde_json::json;
use std::time::Duration;

/// Charges `amount` euros for `order` (its own idempotency key) and expects an answer.
async fn pay(app: &TestApp, shopper: &Shopper, order: &str, amount: i64, token: &str) -> Payment {
    charge(app, shopper, charge_request(order, order, amount, token)).await.unwrap()
}

/// Stripe's `payment_intent.succeeded` for the mock's first intent, naming `payment_id` in its
/// metadata, for `amount` euro cents.
fn intent_succeeded(event_id: &str, payment_id: &str, amount: i64) -> serde_json::Value {
    json!({
        "id": event_id, "type": "payment_intent.succeeded",
        "data": { "object": { "id": "pi_mock_1", "object": "payment_intent", "status": "succeeded",
                              "amount": amount, "currency": "eur", "metadata": { "payment_id": payment_id } } },
    })
}

async fn succeeded_refunds_of(app: &TestApp, payment_id: &str) -> i64 {
    let sql = format!(
        "SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE payment_id = '{payment_id}' AND status = 'succeeded'"
    );
    count(&app.database_url, &sql).await
}

/// Item 1: Stripe reports a charge succeeded after payment had booked it declined (a late
/// `payment_intent.succeeded`). The event used to be dropped: the money stayed at Stripe with
/// the payment booked failed, and nothing refunded it.
#[tokio::test]
async fn a_late_success_of_a_declined_charge_is_booked_and_refunded() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let declined = pay(&app, &shopper, &order, 1000, "tok_chargeDeclined").await;
    assert_eq!(status(&declined), PaymentStatus::Failed);
    // The checkout, told "declined", gave its stock back.
    publish_release(&app, &released_envelope(&order, "released"), &order).await;

    let late = intent_succeeded(&format!("evt_late_{order}"), &declined.payment_id, 1000);
    assert_eq!(webhook(&app, late).await["duplicate"], false);
    let refunded = wait_for(&app, &shopper, &declined.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(
        (status(&refunded), refunded.refunded.clone()),
        (PaymentStatus::Refunded, eur(1000)),
        "the money the gateway took for an unsold checkout goes back: {refunded:?}"
    );
    assert_eq!(succeeded_refunds_of(&app, &declined.payment_id).await, 1);
    assert_eq!(mock.calls(|call| call == "POST /v1/refunds"), 1, "refunded at the gateway, once");
}

/// Item 1, reviewed: the shopper paid the order with another card after the decline, and then
/// the declined charge succeeded late. Reviving it clashed with the order's live charge (a 500
/// on every redelivery, the money kept); now it is booked as a late success and refunded at
/// once, since the other charge pays for the order.
#[tokio::test]
async fn a_late_success_for_an_order_another_charge_pays_for_is_refunded_at_once() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let declined = pay(&app, &shopper, &order, 1000, "tok_chargeDeclined").await;
    let request = charge_request(&format!("another-card-{order}"), &order, 1000, "tok_visa");
    let paid = app.payments().await.charge(authed(request, &shopper.token)).await.unwrap().into_inner();
    let paid = paid.payment.unwrap();
    assert_eq!((status(&declined), status(&paid)), (PaymentStatus::Failed, PaymentStatus::Succeeded));

    let late = intent_succeeded(&format!("evt_late_{order}"), &declined.payment_id, 1000);
    assert_eq!(webhook(&app, late).await["duplicate"], false);
    let refunded = wait_for(&app, &shopper, &declined.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(status(&refunded), PaymentStatus::Refunded, "{refunded:?}");
    let sale = get(&app, &shopper, &paid.payment_id).await;
    assert_eq!((status(&sale), sale.refunded), (PaymentStatus::Succeeded, eur(0)), "the order's sale is kept");
}

/// Item 3, reviewed: two shoppers charging one new order at the same moment both got through
/// (a locking read of no rows locks nothing); the unique key now holds across users.
#[tokio::test]
async fn two_shoppers_charging_one_new_order_at_once_are_charged_once() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    for round in 0..5 {
        let order = uuid::Uuid::now_v7().to_string();
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..2 {
            let shopper = app.shopper();
            let request = charge_request(&format!("race-{round}-{n}"), &order, 900, "tok_visa");
            let mut client = app.payments().await;
            calls.spawn(async move { client.charge(authed(request, &shopper.token)).await });
        }
        let answered = calls.join_all().await.iter().filter(|outcome| outcome.is_ok()).count();
        assert_eq!(answered, 1, "round {round}: one shopper's charge, the other refused");
    }
    assert_eq!(mock.charges(), 5, "one charge per order reached Stripe");
}

/// Item 1, the other side: a late success for another amount (not this payment's charge)
/// changes nothing, as for a pending payment.
#[tokio::test]
async fn a_late_success_for_another_amount_leaves_a_declined_charge_declined() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let declined = pay(&app, &shopper, &order, 1000, "tok_chargeDeclined").await;
    let other = intent_succeeded(&format!("evt_other_{order}"), &declined.payment_id, 5);
    webhook(&app, other).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status(&get(&app, &shopper, &declined.payment_id).await), PaymentStatus::Failed);
}

/// Item 2: a charge Stripe made but none of whose answers arrived (each a 503, the repeats
/// with the same key too). Past the maximum pending age the payment used to fail
/// (`gateway_timeout`) without asking Stripe, so the money stayed there; now Stripe's search by
/// the payment's metadata finds the charge, it is booked, and its released order refunds it.
#[tokio::test]
async fn a_charge_whose_answers_were_all_lost_is_found_by_search_and_refunded() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |s| s.gateway.max_pending_age = Duration::from_secs(2)).await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    mock.lose_charge_answers(true);
    let lost = pay(&app, &shopper, &order, 1200, "tok_visa").await;
    assert_eq!((status(&lost), lost.gateway_reference.as_str()), (PaymentStatus::Pending, ""));
    assert_eq!(mock.charges(), 1, "Stripe made the charge");
    // The checkout's reservation expired meanwhile.
    publish_release(&app, &released_envelope(&order, "expired"), &order).await;

    let refunded = wait_for(&app, &shopper, &lost.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(
        (status(&refunded), refunded.refunded.clone(), refunded.gateway_reference.as_str()),
        (PaymentStatus::Refunded, eur(1200), "pi_mock_1"),
        "found at Stripe, booked, refunded: {refunded:?}"
    );
    assert!(mock.calls(|call| call == "GET /v1/payment_intents/search") >= 1);
    assert_eq!(mock.charges(), 1, "never charged again");
}

/// Item 3: product sells a reservation for one payment only, so a second payment for an order
/// another shopper already paid was taken and kept (product answered `payment_mismatch`, or
/// took it as the same sale). Payment now refuses it before any money moves.
#[tokio::test]
async fn a_second_shoppers_charge_for_an_order_already_paid_is_refused_before_any_money_moves() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let (first, second) = (app.shopper(), app.shopper());
    let order = uuid::Uuid::now_v7().to_string();
    let paid = pay(&app, &first, &order, 1000, "tok_visa").await;
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    for amount in [700, 1000] {
        let request = charge_request(&format!("second-{amount}"), &order, amount, "tok_visa");
        let refused = app.payments().await.charge(authed(request, &second.token)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{amount}: {refused:?}");
    }
    assert_eq!(mock.charges(), 1, "only the first shopper's charge reached Stripe");
}

/// Item 6: a refund webhook is matched by reference, amount and currency. It used to be matched
/// by reference (or metadata) alone, so an event about another amount settled this refund.
#[tokio::test]
async fn a_refund_webhook_for_another_amount_does_not_settle_the_refund() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let paid = pay(&app, &shopper, &order, 1000, "tok_visa").await;
    mock.refunds_answer_pending(true);
    let request = RefundRequest {
        idempotency_key: format!("refund-{order}"),
        payment_id: paid.payment_id.clone(),
        amount: eur(300),
        reason: "requested_by_customer".to_owned(),
    };
    let response = app.payments().await.refund(authed(request, &shopper.token)).await.unwrap().into_inner();
    let refund_id = response.refund.unwrap().refund_id;
    let event = |id: &str, amount: i64, currency: &str| {
        json!({
            "id": id, "type": "refund.updated",
            "data": { "object": { "id": "re_mock_1", "object": "refund", "status": "failed",
                                  "amount": amount, "currency": currency,
                                  "failure_reason": "expired_or_canceled_card",
                                  "metadata": { "refund_id": refund_id } } },
        })
    };
    let refund_status = || async {
        let sql =
            format!("SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE id = '{refund_id}' AND status = 'failed'");
        count(&app.database_url, &sql).await
    };
    webhook(&app, event(&format!("evt_a_{order}"), 30, "eur")).await;
    webhook(&app, event(&format!("evt_b_{order}"), 300, "usd")).await;
    assert_eq!(refund_status().await, 0, "another amount or currency is another refund");
    assert_eq!(get(&app, &shopper, &paid.payment_id).await.refunded, eur(300));
    webhook(&app, event(&format!("evt_c_{order}"), 300, "eur")).await;
    assert_eq!(refund_status().await, 1, "this refund's own event settles it");
    assert_eq!(get(&app, &shopper, &paid.payment_id).await.refunded, eur(0), "its amount is refundable again");
}
