//! What Stripe accepted but had not finished is followed with look-ups, never repeated: pending
//! refunds and processing charges, refund webhooks, intents asking for 3-D Secure, and the
//! maximum pending age before Stripe's idempotency keys expire. Against real MariaDB, the real
//! broker and the local mock of Stripe's API.
use crate::{
    helpers::{authed, eventually, stripe_app, webhook, Shopper, TestApp},
    payment_calls::{charge_request, eur, get, status},
    stripe_mock::StripeMock,
};
use diesel::{
    sql_types::{Nullable, Text},
    QueryableByName,
};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use payment_service::proto::shop::{
    events::v1::PaymentFailed,
    payment::v1::{Payment, PaymentStatus, RefundRequest},
};
use prost::Message as _;
use std::time::Duration;

async fn charge(app: &TestApp, shopper: &Shopper, key: &str, amount: i64, token: &str) -> Payment {
    let request = charge_request(key, &format!("order-{key}"), amount, token);
    app.payments().await.charge(authed(request, &shopper.token)).await.unwrap().into_inner().payment.unwrap()
}

/// Refunds `amount` of the payment; returns the refund's id and the payment.
async fn refund(app: &TestApp, shopper: &Shopper, key: &str, payment_id: &str, amount: i64) -> (String, Payment) {
    let request = RefundRequest {
        idempotency_key: key.to_owned(),
        payment_id: payment_id.to_owned(),
        amount: eur(amount),
        reason: "requested_by_customer".to_owned(),
    };
    let response = app.payments().await.refund(authed(request, &shopper.token)).await.unwrap().into_inner();
    (response.refund.unwrap().refund_id, response.payment.unwrap())
}

#[derive(QueryableByName, Debug)]
struct RefundState {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    gateway_reference: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    failure_code: Option<String>,
}

async fn refund_state(app: &TestApp, refund_id: &str) -> RefundState {
    let mut conn = AsyncMysqlConnection::establish(&app.database_url).await.unwrap();
    diesel::sql_query("SELECT status, gateway_reference, failure_code FROM refunds WHERE id = ?")
        .bind::<Text, _>(refund_id)
        .get_result(&mut conn)
        .await
        .unwrap()
}

async fn settled(app: &TestApp, shopper: &Shopper, payment_id: &str, seconds: u64) -> Payment {
    for _ in 0..seconds * 10 {
        let payment = get(app, shopper, payment_id).await;
        if status(&payment) != PaymentStatus::Pending {
            return payment;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still pending after {seconds} s: {:?}", get(app, shopper, payment_id).await);
}

/// The `PaymentFailed` events on the test's topic for the shopper, once `at_least` records arrived.
async fn failures(app: &TestApp, shopper: &Shopper, at_least: usize) -> Vec<PaymentFailed> {
    let events = app.events_of(&shopper.user_id, at_least).await;
    events
        .iter()
        .filter(|e| e.event_type == "shop.events.v1.PaymentFailed")
        .map(|e| PaymentFailed::decode(e.payload.as_slice()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_pending_refund_is_looked_up_not_posted_again_until_it_succeeds() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let paid = charge(&app, &shopper, "p1", 1000, "tok_visa").await;
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    mock.refunds_answer_pending(true);
    let (refund_id, payment) = refund(&app, &shopper, "r1", &paid.payment_id, 400).await;
    assert_eq!(payment.refunded, eur(400), "in flight: reserved");
    let pending = refund_state(&app, &refund_id).await;
    assert_eq!((pending.status.as_str(), pending.gateway_reference.as_deref()), ("pending", Some("re_mock_1")));

    // Stripe finishes it; a repeat of the POST would only replay `pending`.
    mock.settle_refunds("succeeded");
    let done = eventually(15, || async { refund_state(&app, &refund_id).await.status == "succeeded" }).await;
    assert!(done, "{:?}", refund_state(&app, &refund_id).await);
    assert_eq!(mock.calls(|c| c == "POST /v1/refunds"), 1, "never created again");
    assert!(mock.calls(|c| c == "GET /v1/refunds/re_mock_1") >= 1, "looked up");
    let payment = get(&app, &shopper, &paid.payment_id).await;
    assert_eq!((status(&payment), payment.refunded), (PaymentStatus::PartiallyRefunded, eur(400)));
}

#[tokio::test]
async fn signed_refund_webhooks_settle_pending_refunds() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let paid = charge(&app, &shopper, "p1", 1000, "tok_visa").await;
    // Stripe keeps both pending: only the webhooks can settle them.
    mock.refunds_answer_pending(true);
    let (done_id, _) = refund(&app, &shopper, "r1", &paid.payment_id, 300).await;
    let (failing_id, payment) = refund(&app, &shopper, "r2", &paid.payment_id, 200).await;
    assert_eq!(payment.refunded, eur(500));
    // The mock numbers its refunds.
    let (done_reference, failing_reference) = ("re_mock_1", "re_mock_2");

    let succeeded = serde_json::json!({
        "id": "evt_refund_1", "type": "charge.refund.updated",
        "data": { "object": { "id": done_reference, "object": "refund", "status": "succeeded",
                              "amount": 300, "currency": "eur", "metadata": { "refund_id": done_id } } },
    });
    assert_eq!(webhook(&app, succeeded).await["duplicate"], false);
    // No metadata: found by its reference.
    let failed = serde_json::json!({
        "id": "evt_refund_2", "type": "refund.failed",
        "data": { "object": { "id": failing_reference, "object": "refund", "status": "failed",
                              "amount": 200, "currency": "eur", "failure_reason": "expired_or_canceled_card" } },
    });
    assert_eq!(webhook(&app, failed.clone()).await["duplicate"], false);

    let done = refund_state(&app, &done_id).await;
    assert_eq!(done.status, "succeeded", "{done:?}");
    let failing = refund_state(&app, &failing_id).await;
    assert_eq!(
        (failing.status.as_str(), failing.failure_code.as_deref()),
        ("failed", Some("expired_or_canceled_card"))
    );
    let payment = get(&app, &shopper, &paid.payment_id).await;
    assert_eq!(
        (status(&payment), payment.refunded),
        (PaymentStatus::PartiallyRefunded, eur(300)),
        "the failed refund's amount may be refunded again"
    );
    assert_eq!(webhook(&app, failed).await["duplicate"], true);
    assert_eq!(get(&app, &shopper, &paid.payment_id).await.refunded, eur(300), "a redelivery changes nothing");
}

#[tokio::test]
async fn an_accepted_refund_is_never_failed_by_a_refused_follow_up() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let paid = charge(&app, &shopper, "p1", 1000, "tok_visa").await;
    mock.refunds_answer_pending(true);
    let (refund_id, _) = refund(&app, &shopper, "r1", &paid.payment_id, 500).await;
    // From now on a repeat of the refund is refused (400, as once Stripe has forgotten the key)
    // and its look-up answers 404: neither says the refund failed.
    mock.forget_keys(true);
    let follow_ups = || mock.calls(|c| c.starts_with("GET /v1/refunds/") || c == "POST /v1/refunds") - 1;
    assert!(eventually(10, || async { follow_ups() >= 1 }).await, "the reconciler followed the refund up");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = refund_state(&app, &refund_id).await;
    assert_eq!(state.status, "pending", "{state:?}");
    let payment = get(&app, &shopper, &paid.payment_id).await;
    assert_eq!(payment.refunded, eur(500), "still reserved: it may have been refunded");

    // It is still followed, and settles once Stripe answers.
    mock.forget_keys(false);
    mock.settle_refunds("succeeded");
    let done = eventually(15, || async { refund_state(&app, &refund_id).await.status == "succeeded" }).await;
    assert!(done, "{:?}", refund_state(&app, &refund_id).await);
    assert_eq!(mock.calls(|c| c == "POST /v1/refunds"), 1);
}

#[tokio::test]
async fn an_intent_asking_for_3d_secure_is_declined_and_cancelled() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let declined = charge(&app, &shopper, "3ds-1", 800, "tok_threeDSecure2Required").await;
    assert_eq!((status(&declined), declined.failure_code.as_str()), (PaymentStatus::Failed, "authentication_required"));
    let cancels = |reference: &str| mock.calls(|c| c == format!("POST /v1/payment_intents/{reference}/cancel"));
    assert_eq!(cancels(&declined.gateway_reference), 1);

    // A cancel Stripe does not confirm leaves the payment pending; the reconciler cancels again.
    mock.fail_cancels(1);
    let pending = charge(&app, &shopper, "3ds-2", 900, "tok_threeDSecure2Required").await;
    assert_eq!(status(&pending), PaymentStatus::Pending);
    let failed = settled(&app, &shopper, &pending.payment_id, 15).await;
    assert_eq!((status(&failed), failed.failure_code.as_str()), (PaymentStatus::Failed, "authentication_required"));
    assert_eq!(cancels(&pending.gateway_reference), 2);
    assert_eq!(mock.calls(|c| c == "POST /v1/payment_intents"), 2, "never charged again");

    let events = failures(&app, &shopper, 2).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.failure_code == "authentication_required"), "{events:?}");
}

#[tokio::test]
async fn a_processing_charge_is_looked_up_until_it_succeeds() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |_| {}).await;
    let shopper = app.shopper();
    let pending = charge(&app, &shopper, "slow-bank", 1500, "tok_processing").await;
    assert_eq!((status(&pending), pending.gateway_reference.as_str()), (PaymentStatus::Pending, "pi_mock_1"));
    // No webhook comes: the reconciler must ask.
    mock.settle_intents("succeeded");
    let paid = settled(&app, &shopper, &pending.payment_id, 15).await;
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    assert!(mock.calls(|c| c == "GET /v1/payment_intents/pi_mock_1") >= 1, "looked up");
    assert_eq!(mock.calls(|c| c == "POST /v1/payment_intents"), 1, "never POSTed again");
    let events = app.events_of(&shopper.user_id, 1).await;
    assert_eq!(events.iter().filter(|e| e.event_type == "shop.events.v1.PaymentSucceeded").count(), 1);
}

#[tokio::test]
async fn a_charge_never_answered_fails_at_the_max_age_and_is_never_repeated() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |s| s.gateway.max_pending_age = Duration::from_secs(1)).await;
    let shopper = app.shopper();
    mock.unavailable(true);
    let pending = charge(&app, &shopper, "outage", 2500, "tok_visa").await;
    assert_eq!((status(&pending), pending.gateway_reference.as_str()), (PaymentStatus::Pending, ""));
    // Past the maximum age it fails only once Stripe's search says there is no such charge:
    // while Stripe does not answer, the charge may have been made.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(&get(&app, &shopper, &pending.payment_id).await), PaymentStatus::Pending);
    mock.unavailable(false);
    let failed = settled(&app, &shopper, &pending.payment_id, 15).await;
    assert_eq!((status(&failed), failed.failure_code.as_str()), (PaymentStatus::Failed, "gateway_timeout"));
    assert!(mock.calls(|c| c == "GET /v1/payment_intents/search") >= 1);
    // Stripe is back: nothing repeats the charge past the maximum age (it could be a new one).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(mock.calls(|c| c == "POST /v1/payment_intents"), 1);
    assert_eq!(mock.charges(), 0);
    let events = failures(&app, &shopper, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].failure_code, "gateway_timeout");
}

#[tokio::test]
async fn an_accepted_charge_pending_at_the_max_age_is_cancelled_or_found_succeeded() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |s| s.gateway.max_pending_age = Duration::from_secs(1)).await;
    let shopper = app.shopper();
    let stuck = charge(&app, &shopper, "stuck", 3000, "tok_processing").await;
    assert_eq!(status(&stuck), PaymentStatus::Pending);
    let failed = settled(&app, &shopper, &stuck.payment_id, 15).await;
    assert_eq!((status(&failed), failed.failure_code.as_str()), (PaymentStatus::Failed, "gateway_timeout"));
    assert_eq!(mock.calls(|c| c == format!("POST /v1/payment_intents/{}/cancel", stuck.gateway_reference)), 1);

    // The intent succeeds just before the cancel reaches Stripe: Stripe refuses the cancel
    // because it succeeded, and so the payment succeeded.
    mock.succeed_on_cancel(true);
    let lucky = charge(&app, &shopper, "lucky", 3100, "tok_processing").await;
    let paid = settled(&app, &shopper, &lucky.payment_id, 15).await;
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    assert!(mock.calls(|c| c == format!("POST /v1/payment_intents/{}/cancel", lucky.gateway_reference)) >= 1);
    assert_eq!(mock.calls(|c| c == "POST /v1/payment_intents"), 2, "neither was POSTed again");

    let events = app.events_of(&shopper.user_id, 2).await;
    let kinds: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["shop.events.v1.PaymentFailed", "shop.events.v1.PaymentSucceeded"]);
}
