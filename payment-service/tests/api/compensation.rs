//! No money without a sale, and one charge per order (issue "Checkout money invariants",
//! findings 1, 2, 5, 9 and 10): a checkout whose reservation product-service released or
//! expired gets its charge refunded, durably and once, whether the charge had succeeded or
//! succeeds later; an order is never charged twice, even after its key is gone.
use crate::{
    helpers::{authed, count, execute, publish_release, released_envelope, spawn_app, stripe_app, TestApp},
    payment_calls::{charge, charge_request, eur, get, status, wait_for},
    stripe_mock::StripeMock,
};
use payment_service::proto::shop::payment::v1::{PaymentStatus, RefundRequest};
use std::time::Duration;
use tonic::Code;

/// Polls a `SELECT CAST(count(*) AS SIGNED) AS n ...` until it answers `n` (30 s at most);
/// returns its last answer.
async fn wait_for_count(app: &TestApp, sql: &str, n: i64) -> i64 {
    let mut found = count(&app.database_url, sql).await;
    for _ in 0..300 {
        if found == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        found = count(&app.database_url, sql).await;
    }
    found
}

async fn refunds_of(app: &TestApp, payment_id: &str) -> i64 {
    count(
        &app.database_url,
        &format!("SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE payment_id = '{payment_id}'"),
    )
    .await
}

#[tokio::test]
async fn a_paid_checkout_whose_stock_was_released_is_refunded_once_however_often_the_event_comes() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let paid = charge(&app, &shopper, charge_request(&order, &order, 2500, "tok_visa")).await.unwrap();
    assert_eq!(status(&paid), PaymentStatus::Succeeded);

    let envelope = released_envelope(&order, "expired");
    publish_release(&app, &envelope, &order).await;
    publish_release(&app, &envelope, &order).await;
    // The same fact in a second event (released after expired): still one refund.
    publish_release(&app, &released_envelope(&order, "released"), &order).await;
    let refunded = wait_for(&app, &shopper, &paid.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(status(&refunded), PaymentStatus::Refunded, "the charge of an unsold checkout is refunded");
    assert_eq!(refunded.refunded, eur(2500));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(refunds_of(&app, &paid.payment_id).await, 1, "one refund, whatever the redeliveries");

    let events = app.events_of(&shopper.user_id, 2).await;
    let kinds: Vec<_> = events.iter().map(|e| e.event_type.trim_start_matches("shop.events.v1.")).collect();
    assert_eq!(kinds, ["PaymentSucceeded", "PaymentRefunded"]);
}

#[tokio::test]
async fn a_charge_that_succeeds_after_its_checkout_was_released_is_refunded() {
    // tok_timeout: the first gateway call gets no answer (the payment stays pending); the
    // reconciler's repeat succeeds seconds later — after the reservation was given back.
    let app = spawn_app().await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let pending = charge(&app, &shopper, charge_request(&order, &order, 1800, "tok_timeout")).await.unwrap();
    assert_eq!(status(&pending), PaymentStatus::Pending);
    publish_release(&app, &released_envelope(&order, "expired"), &order).await;
    // Before the fix the late success kept the money: it ended `succeeded`.
    let settled = wait_for(&app, &shopper, &pending.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(status(&settled), PaymentStatus::Refunded, "a late success for an unsold checkout is refunded");
    assert_eq!(refunds_of(&app, &pending.payment_id).await, 1);
}

#[tokio::test]
async fn a_checkout_that_became_a_sale_is_not_refunded_by_another_orders_release() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let (sold, unsold) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let kept = charge(&app, &shopper, charge_request(&sold, &sold, 900, "tok_visa")).await.unwrap();
    let refunded = charge(&app, &shopper, charge_request(&unsold, &unsold, 700, "tok_visa")).await.unwrap();
    publish_release(&app, &released_envelope(&unsold, "released"), &unsold).await;
    wait_for(&app, &shopper, &refunded.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(status(&get(&app, &shopper, &kept.payment_id).await), PaymentStatus::Succeeded);
    assert_eq!(refunds_of(&app, &kept.payment_id).await, 0);
}

#[tokio::test]
async fn an_order_is_charged_once_even_after_its_idempotency_key_was_purged() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let first = charge(&app, &shopper, charge_request(&order, &order, 4200, "tok_visa")).await.unwrap();
    // A day later the key is purged (the reconciler deletes keys past their 24 hours).
    execute(&app.database_url, "UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND").await;
    let keys = "SELECT CAST(count(*) AS SIGNED) AS n FROM idempotency_keys";
    assert_eq!(wait_for_count(&app, keys, 0).await, 0, "the reconciler purged the key");

    // The same checkout retried (same key and order): the first charge, not a second one.
    let again = charge(&app, &shopper, charge_request(&order, &order, 4200, "tok_visa")).await.unwrap();
    assert_eq!(again.payment_id, first.payment_id);
    // Under another key too; a different amount for the same order is refused.
    let other_key = charge(&app, &shopper, charge_request("another-key", &order, 4200, "tok_visa")).await.unwrap();
    assert_eq!(other_key.payment_id, first.payment_id);
    let changed = charge(&app, &shopper, charge_request("third-key", &order, 1, "tok_visa")).await.unwrap_err();
    assert_eq!(changed.code(), Code::FailedPrecondition);
    assert!(changed.message().starts_with("order_already_charged"), "{}", changed.message());
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments").await, 1);

    // A declined order may be paid again with another card (a new key).
    let declined_order = uuid::Uuid::now_v7().to_string();
    let declined =
        charge(&app, &shopper, charge_request("d1", &declined_order, 500, "tok_chargeDeclined")).await.unwrap();
    assert_eq!(status(&declined), PaymentStatus::Failed);
    let paid = charge(&app, &shopper, charge_request("d2", &declined_order, 500, "tok_visa")).await.unwrap();
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
}

#[tokio::test]
async fn an_order_id_product_service_would_refuse_is_refused_here_too() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    // 150 characters, 300 bytes: within a 255-character column, beyond a 255-byte reservation id.
    let order = "é".repeat(150);
    let refused = charge(&app, &shopper, charge_request("k", &order, 100, "tok_visa")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{}", refused.message());
    assert!(refused.message().contains("order_id"));
}

#[tokio::test]
async fn a_payment_is_marked_refunded_only_when_its_refunds_have_succeeded() {
    // Stripe answers the first refund late (it stays in flight), the second at once.
    let mock = StripeMock::start();
    let app = stripe_app(&mock, |s| {
        s.gateway.timeout = Duration::from_millis(300);
        // The in-flight refund is not retried during the test.
        s.gateway.reconcile_interval = Duration::from_secs(3600);
    })
    .await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let paid = charge(&app, &shopper, charge_request(&order, &order, 1000, "tok_visa")).await.unwrap();
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    let refund = |key: &str, amount: i64| RefundRequest {
        idempotency_key: key.to_owned(),
        payment_id: paid.payment_id.clone(),
        amount: eur(amount),
        reason: "requested_by_customer".to_owned(),
    };
    mock.slow_once(Duration::from_millis(1500));
    app.payments().await.refund(authed(refund("r1", 600), &shopper.token)).await.unwrap();
    let pending = "SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE status = 'pending'";
    assert_eq!(count(&app.database_url, pending).await, 1, "the first refund is still in flight");
    let done = app.payments().await.refund(authed(refund("r2", 400), &shopper.token)).await.unwrap().into_inner();
    let payment = done.payment.unwrap();
    // Before the fix: `refunded`, counting the 600 still in flight.
    assert_eq!(status(&payment), PaymentStatus::PartiallyRefunded);
}

#[tokio::test]
async fn concurrent_charges_of_one_order_under_different_keys_charge_it_once() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..10 {
        let request = authed(charge_request(&format!("key-{n}"), &order, 1500, "tok_visa"), &shopper.token);
        let mut client = app.payments().await;
        calls.spawn(async move { client.charge(request).await.map(|r| r.into_inner().payment.unwrap()) });
    }
    let outcomes = calls.join_all().await;
    let paid: std::collections::HashSet<String> =
        outcomes.iter().filter_map(|o| o.as_ref().ok()).map(|p| p.payment_id.clone()).collect();
    assert_eq!(paid.len(), 1, "every answered charge names the same payment: {outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(refused.code(), Code::Aborted, "the losers are told to retry: {refused:?}");
    }
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments").await, 1);
}

#[tokio::test]
async fn a_compensating_refund_the_gateway_refuses_is_started_again() {
    // Review of the fix: a refused compensation left the unsold checkout's money kept.
    let mock = StripeMock::start();
    // Its gateway timeout is the default 10 s, as the test was written with.
    let app = stripe_app(&mock, |s| s.gateway.timeout = Duration::from_secs(10)).await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let paid = charge(&app, &shopper, charge_request(&order, &order, 3000, "tok_visa")).await.unwrap();
    mock.refunds_answer_pending(true);
    publish_release(&app, &released_envelope(&order, "expired"), &order).await;
    let accepted =
        "SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE status = 'pending' AND gateway_reference IS NOT NULL";
    assert_eq!(wait_for_count(&app, accepted, 1).await, 1, "the compensation was accepted by the gateway");
    // The gateway fails it (the card was closed, say): a new compensation starts, and succeeds.
    mock.settle_refunds("failed");
    let failed = "SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE status = 'failed'";
    assert_eq!(wait_for_count(&app, failed, 1).await, 1);
    assert_eq!(wait_for_count(&app, accepted, 1).await, 1, "a second compensation, accepted");
    mock.settle_refunds("succeeded");
    let refunded = wait_for(&app, &shopper, &paid.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(status(&refunded), PaymentStatus::Refunded, "refunded in the end");
    assert_eq!(count(&app.database_url, failed).await, 1);
    assert_eq!(refunds_of(&app, &paid.payment_id).await, 2, "the refused refund and the one that went through");
}

/// A release under a type product's catalogue does not list (a misspelt one, from a producer on
/// the wrong contract) refunds nothing: it is parked in the DLQ with that reason, and the real
/// release after it still refunds.
#[tokio::test]
async fn a_release_under_a_type_the_catalogue_does_not_list_is_dead_lettered_and_refunds_nothing() {
    use rdkafka::message::{Headers as _, Message as _};
    let app = spawn_app().await;
    let shopper = app.shopper();
    let order = uuid::Uuid::now_v7().to_string();
    let paid = charge(&app, &shopper, charge_request(&order, &order, 1800, "tok_visa")).await.unwrap();

    let genuine = released_envelope(&order, "expired");
    let mut envelope =
        <payment_service::proto::shop::events::v1::Envelope as prost::Message>::decode(&genuine[..]).unwrap();
    envelope.event_type = "shop.events.v1.ReservationReleasd".to_owned();
    let misspelt = prost::Message::encode_to_vec(&envelope);
    publish_release(&app, &misspelt, &order).await;
    let dead = crate::kafka::read(
        &crate::helpers::kafka_brokers(),
        &format!("{}.dlq", app.product_events_topic),
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == "dlq-error").and_then(|h| h.value))
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default();
    assert!(reason.contains("ReservationReleasd") && reason.contains("is not in the catalogue of"), "{reason}");
    assert_eq!(refunds_of(&app, &paid.payment_id).await, 0, "nothing refunded on an unlisted type");
    let parked = format!(r#"events_dead_lettered_total{{topic="{}"}}"#, app.product_events_topic);
    assert_eq!(crate::metrics::until(&app, &parked, |v| v >= 1.0).await, 1.0);

    publish_release(&app, &genuine, &order).await;
    let refunded = wait_for(&app, &shopper, &paid.payment_id, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(refunded.refunded, eur(1800));
}
