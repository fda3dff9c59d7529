//! Charges, refunds, idempotency, webhooks and the reconciler against real MariaDB, the real
//! broker and (for the Stripe adapter) a local mock of Stripe's API.
use crate::{
    helpers::{authed, count, spawn_app, spawn_app_with, Shopper, TestApp, WEBHOOK_SECRET},
    stripe_mock::StripeMock,
};
use payment_service::proto::shop::{
    common::v1::Money,
    events::v1::PaymentSucceeded,
    payment::v1::{
        ChargeRequest, GetPaymentRequest, ListPaymentsRequest, OrderLine, Payment, PaymentStatus, RefundRequest,
    },
};
use prost::Message as _;
use ring::hmac;
use std::time::Duration;
use tonic::Code;

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money { amount_minor, currency: "EUR".to_owned() })
}

fn charge_request(key: &str, amount_minor: i64, token: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.to_owned(),
        order_id: format!("order-{key}"),
        amount: eur(amount_minor),
        payment_token: token.to_owned(),
        lines: vec![OrderLine {
            product_id: "0196f3c0-0000-7000-8000-000000000001".to_owned(),
            name: "Enamel mug".to_owned(),
            // Two mugs when the amount splits evenly, else one: the lines always cost the amount.
            quantity: if amount_minor % 2 == 0 { 2 } else { 1 },
            unit_price: eur(if amount_minor % 2 == 0 { amount_minor / 2 } else { amount_minor }),
        }],
        ..Default::default()
    }
}

async fn charge(
    app: &TestApp,
    shopper: &Shopper,
    key: &str,
    amount: i64,
    token: &str,
) -> Result<Payment, tonic::Status> {
    let request = authed(charge_request(key, amount, token), &shopper.token);
    app.payments().await.charge(request).await.map(|r| r.into_inner().payment.unwrap())
}

async fn get(app: &TestApp, shopper: &Shopper, id: &str) -> Result<Payment, tonic::Status> {
    let request = authed(GetPaymentRequest { payment_id: id.to_owned() }, &shopper.token);
    app.payments().await.get_payment(request).await.map(|r| r.into_inner().payment.unwrap())
}

async fn refund(
    app: &TestApp,
    shopper: &Shopper,
    key: &str,
    payment_id: &str,
    amount: i64,
) -> Result<Payment, tonic::Status> {
    let request = RefundRequest {
        idempotency_key: key.to_owned(),
        payment_id: payment_id.to_owned(),
        amount: eur(amount),
        reason: "requested_by_customer".to_owned(),
    };
    app.payments().await.refund(authed(request, &shopper.token)).await.map(|r| r.into_inner().payment.unwrap())
}

async fn stripe_app(mock: &StripeMock, timeout: Duration) -> TestApp {
    crate::helpers::stripe_app(mock, move |s| s.gateway.timeout = timeout).await
}

fn status(payment: &Payment) -> PaymentStatus {
    PaymentStatus::try_from(payment.status).unwrap()
}

#[tokio::test]
async fn a_charge_succeeds_is_replayed_by_its_key_and_only_its_owner_sees_it() {
    let app = spawn_app().await;
    let alice = app.shopper();
    let paid = charge(&app, &alice, "k1", 1250, "tok_visa").await.unwrap();
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    assert_eq!(paid.amount, eur(1250));
    assert_eq!(paid.user_id, alice.user_id);
    assert_eq!(paid.gateway, "sandbox");
    let again = charge(&app, &alice, "k1", 1250, "tok_visa").await.unwrap();
    assert_eq!(again.payment_id, paid.payment_id);
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments").await, 1);
    assert_eq!(get(&app, &alice, &paid.payment_id).await.unwrap().payment_id, paid.payment_id);

    // Bob can neither read it nor list Alice's payments.
    let bob = app.shopper();
    assert_eq!(get(&app, &bob, &paid.payment_id).await.unwrap_err().code(), Code::NotFound);
    let list = ListPaymentsRequest { user_id: alice.user_id.clone(), page_size: 0, page_token: String::new() };
    assert_eq!(
        app.payments().await.list_payments(authed(list, &bob.token)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let mine = ListPaymentsRequest { user_id: String::new(), page_size: 0, page_token: String::new() };
    let mine = app.payments().await.list_payments(authed(mine, &alice.token)).await.unwrap().into_inner();
    assert_eq!(mine.payments.len(), 1);
    // The token in the settled payment is gone.
    assert_eq!(
        count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments WHERE payment_token IS NOT NULL")
            .await,
        0
    );

    let events = app.events_of(&alice.user_id, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, "shop.events.v1.PaymentSucceeded");
    let succeeded = PaymentSucceeded::decode(events[0].payload.as_slice()).unwrap();
    assert_eq!((succeeded.payment_id.as_str(), succeeded.lines.len()), (paid.payment_id.as_str(), 1));
    assert_eq!(succeeded.lines[0].quantity, 2);
}

#[tokio::test]
async fn twenty_concurrent_charges_with_one_key_reach_the_gateway_once() {
    let mock = StripeMock::start();
    mock.slow(Duration::from_millis(300));
    let app = stripe_app(&mock, Duration::from_secs(5)).await;
    let shopper = app.shopper();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        // A connection each, as twenty replicas of cart would have.
        let (port, token) = (app.grpc_port, shopper.token.clone());
        calls.spawn(async move {
            let channel = crate::pki::channel_as(port, crate::pki::Caller::Workload("cart-service")).await.unwrap();
            let mut client =
                payment_service::proto::shop::payment::v1::payment_service_client::PaymentServiceClient::new(channel);
            client
                .charge(authed(charge_request("same-key", 5000, "tok_visa"), &token))
                .await
                .map(|r| r.into_inner().payment.unwrap())
        });
    }
    let results = calls.join_all().await;
    let mut ids = std::collections::BTreeSet::new();
    for result in results {
        match result {
            Ok(payment) => {
                ids.insert(payment.payment_id);
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                assert!(status.message().contains("request_in_progress"), "{status:?}");
            }
        }
    }
    assert!(ids.len() <= 1, "{ids:?}");
    assert_eq!(mock.charges(), 1);
    assert_eq!(mock.requests(), 1, "exactly one call reached the gateway");
    // After the first finished, a repeat replays it.
    let replay = charge(&app, &shopper, "same-key", 5000, "tok_visa").await.unwrap();
    assert_eq!(status(&replay), PaymentStatus::Succeeded);
    assert!(ids.is_empty() || ids.contains(&replay.payment_id));
}

#[tokio::test]
async fn a_reused_key_is_refused_and_a_decline_is_replayed_not_retried() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, Duration::from_secs(5)).await;
    let shopper = app.shopper();
    let declined = charge(&app, &shopper, "d1", 700, "tok_chargeDeclined").await.unwrap();
    assert_eq!(status(&declined), PaymentStatus::Failed);
    assert_eq!(declined.failure_code, "generic_decline");
    let again = charge(&app, &shopper, "d1", 700, "tok_chargeDeclined").await.unwrap();
    assert_eq!((status(&again), again.payment_id), (PaymentStatus::Failed, declined.payment_id.clone()));
    assert_eq!(mock.requests(), 1, "the decline was replayed from our store, not asked again");

    let reused = charge(&app, &shopper, "d1", 701, "tok_chargeDeclined").await.unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert!(reused.message().contains("idempotency_key_reused"), "{reused:?}");
    // Another user may use the same key: keys are per user.
    let other = app.shopper();
    assert_eq!(status(&charge(&app, &other, "d1", 701, "tok_visa").await.unwrap()), PaymentStatus::Succeeded);
    let events = app.events_of(&shopper.user_id, 2).await;
    let kinds: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["shop.events.v1.PaymentFailed"]);
}

#[tokio::test]
async fn refunds_never_exceed_the_charge_even_when_concurrent() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let paid = charge(&app, &shopper, "r1", 1000, "tok_visa").await.unwrap();
    let over = refund(&app, &shopper, "over", &paid.payment_id, 1001).await.unwrap_err();
    assert_eq!(over.code(), Code::FailedPrecondition);
    assert!(over.message().contains("refund_exceeds_charge"), "{over:?}");

    let (a, b) = tokio::join!(
        refund(&app, &shopper, "half-a", &paid.payment_id, 600),
        refund(&app, &shopper, "half-b", &paid.payment_id, 600)
    );
    let outcomes = [a, b];
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "{outcomes:?}");
    let refused = outcomes.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let partly = get(&app, &shopper, &paid.payment_id).await.unwrap();
    assert_eq!((status(&partly), partly.refunded), (PaymentStatus::PartiallyRefunded, eur(600)));

    let rest = refund(&app, &shopper, "rest", &paid.payment_id, 400).await.unwrap();
    assert_eq!((status(&rest), rest.refunded), (PaymentStatus::Refunded, eur(1000)));
    let replay = refund(&app, &shopper, "rest", &paid.payment_id, 400).await.unwrap();
    assert_eq!(replay.refunded, eur(1000), "a repeat changes nothing");
    let none_left = refund(&app, &shopper, "more", &paid.payment_id, 1).await.unwrap_err();
    assert_eq!(none_left.code(), Code::FailedPrecondition);
    let refunds =
        count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM refunds WHERE status = 'succeeded'");
    assert_eq!(refunds.await, 2);
}

fn signature(body: &str, timestamp: i64, secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

#[tokio::test]
async fn webhooks_need_a_fresh_valid_signature_and_apply_once() {
    let mock = StripeMock::start();
    let app = stripe_app(&mock, Duration::from_secs(5)).await;
    let shopper = app.shopper();
    let pending = charge(&app, &shopper, "w1", 900, "tok_processing").await.unwrap();
    assert_eq!(status(&pending), PaymentStatus::Pending);
    let intent = |event_id: &str, reference: &str, amount: i64, currency: &str| {
        serde_json::json!({
            "id": event_id, "type": "payment_intent.succeeded",
            "data": { "object": { "id": reference, "amount": amount, "currency": currency,
                                  "metadata": { "payment_id": pending.payment_id } } },
        })
        .to_string()
    };
    let body = intent("evt_1", &pending.gateway_reference, 900, "eur");
    let now = chrono::Utc::now().timestamp();
    let post = |signature: String| {
        app.client
            .post(format!("{}/v1/webhooks/stripe", app.address))
            .header("Stripe-Signature", signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    for bad in [
        signature(&body, now, "whsec_someone_else_entirely"),
        signature(&body, now - 3600, WEBHOOK_SECRET),
        signature(&body.replace("evt_1", "evt_2"), now, WEBHOOK_SECRET),
        "t=1,v1=00".to_owned(),
    ] {
        let response = post(bad).await.unwrap();
        assert_eq!(response.status(), 400);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_webhook");
    }
    assert_eq!(status(&get(&app, &shopper, &pending.payment_id).await.unwrap()), PaymentStatus::Pending);

    // Signed, but about another PaymentIntent that names this payment in its metadata: an
    // amount of 1 cent, another currency, another reference. Recorded; nothing is settled.
    for (n, (reference, amount, currency)) in [
        (pending.gateway_reference.as_str(), 1, "eur"),
        (&pending.gateway_reference, 900, "usd"),
        ("pi_other", 900, "eur"),
    ]
    .into_iter()
    .enumerate()
    {
        let forged = intent(&format!("evt_forged_{n}"), reference, amount, currency);
        let response = app
            .client
            .post(format!("{}/v1/webhooks/stripe", app.address))
            .header("Stripe-Signature", signature(&forged, now, WEBHOOK_SECRET))
            .header("content-type", "application/json")
            .body(forged)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(status(&get(&app, &shopper, &pending.payment_id).await.unwrap()), PaymentStatus::Pending, "{n}");
    }

    let first: serde_json::Value = post(signature(&body, now, WEBHOOK_SECRET)).await.unwrap().json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    let second: serde_json::Value = post(signature(&body, now, WEBHOOK_SECRET)).await.unwrap().json().await.unwrap();
    assert_eq!(second["duplicate"], true);
    assert_eq!(status(&get(&app, &shopper, &pending.payment_id).await.unwrap()), PaymentStatus::Succeeded);
    let events = app.events_of(&shopper.user_id, 1).await;
    assert_eq!(events.iter().filter(|e| e.event_type.ends_with("PaymentSucceeded")).count(), 1);
}

#[tokio::test]
async fn a_gateway_timeout_leaves_the_payment_pending_until_the_reconciler_settles_it_with_one_charge() {
    let mock = StripeMock::start();
    mock.slow_once(Duration::from_millis(1200));
    let app = stripe_app(&mock, Duration::from_millis(300)).await;
    let shopper = app.shopper();
    let pending = charge(&app, &shopper, "t1", 4200, "tok_visa").await.unwrap();
    assert_eq!(status(&pending), PaymentStatus::Pending);
    let mut settled = None;
    for _ in 0..100 {
        let payment = get(&app, &shopper, &pending.payment_id).await.unwrap();
        if status(&payment) != PaymentStatus::Pending {
            settled = Some(payment);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = settled.expect("the reconciler settled the payment within 10 s");
    assert_eq!(status(&settled), PaymentStatus::Succeeded);
    assert_eq!(mock.charges(), 1, "the repeat carried the same idempotency key");
    assert!(mock.requests() >= 2);
    // A repeat of the original request now answers with the settled payment.
    let replay = charge(&app, &shopper, "t1", 4200, "tok_visa").await.unwrap();
    assert_eq!((status(&replay), replay.payment_id), (PaymentStatus::Succeeded, pending.payment_id));
}

#[tokio::test]
async fn with_the_broker_down_charges_succeed_and_their_events_arrive_once_after() {
    use prost::Message as _;
    use rdkafka::Message as _;
    let port = crate::helpers::free_port();
    let app = spawn_app_with(|s| s.kafka.brokers = format!("127.0.0.1:{port}")).await;
    let shopper = app.shopper();
    for n in 0..3 {
        let paid = charge(&app, &shopper, &format!("b{n}"), 100 + n, "tok_visa").await.unwrap();
        assert_eq!(status(&paid), PaymentStatus::Succeeded);
    }
    let broker = crate::kafka::ThrowawayBroker::start(port);
    crate::kafka::create_topics(&broker.address, &[&app.events_topic]).await;
    let messages = crate::kafka::read(&broker.address, &app.events_topic, 3, Duration::from_secs(60)).await;
    let envelopes: Vec<_> = messages
        .iter()
        .map(|m| payment_service::proto::shop::events::v1::Envelope::decode(m.payload().unwrap()).unwrap())
        .collect();
    let mut ids: Vec<_> = envelopes.iter().map(|e| e.event_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), envelopes.len()), (3, 3), "each event exactly once");
    assert!(messages.iter().all(|m| m.key() == Some(shopper.user_id.as_bytes())), "keyed by user id");
}

#[tokio::test]
async fn bad_input_is_invalid_argument_with_a_reason_and_no_token_is_unauthenticated() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let long_key = "k".repeat(256);
    let cases: Vec<(ChargeRequest, &str)> = vec![
        (charge_request("z", 0, "tok_visa"), "amount"),
        (charge_request("n", -5, "tok_visa"), "amount"),
        (
            ChargeRequest {
                amount: Some(Money { amount_minor: 100, currency: "EUO".into() }),
                ..charge_request("c", 100, "tok_visa")
            },
            "currency",
        ),
        (charge_request("", 100, "tok_visa"), "idempotency_key"),
        (charge_request(&long_key, 100, "tok_visa"), "idempotency_key"),
        (ChargeRequest { amount: None, ..charge_request("m", 100, "tok_visa") }, "amount"),
        (charge_request("t", 100, ""), "payment_token"),
    ];
    for (request, reason) in cases {
        let status = app.payments().await.charge(authed(request.clone(), &shopper.token)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert!(status.message().contains(reason), "{reason}: {}", status.message());
    }
    let bad_id = get(&app, &shopper, "not-a-uuid").await.unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    let anonymous = app.payments().await.charge(tonic::Request::new(charge_request("a", 100, "tok_visa"))).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments").await, 0);
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM idempotency_keys").await, 0);
}

/// Every RPC refuses each bad token with UNAUTHENTICATED before touching the store.
#[tokio::test]
async fn every_rpc_refuses_forged_expired_and_misdirected_tokens() {
    let app = spawn_app().await;
    let alice = app.shopper();
    let paid = charge(&app, &alice, "matrix", 1250, "tok_visa").await.unwrap();
    let mut client = app.payments().await;
    for (case, token) in app.auth_key.refused_tokens(&["customer"]) {
        let charged = client.charge(authed(charge_request(case, 100, "tok_visa"), &token)).await;
        let get = client.get_payment(authed(GetPaymentRequest { payment_id: paid.payment_id.clone() }, &token)).await;
        let list = ListPaymentsRequest { user_id: String::new(), page_size: 0, page_token: String::new() };
        let list = client.list_payments(authed(list, &token)).await;
        let refund = RefundRequest {
            idempotency_key: case.to_owned(),
            payment_id: paid.payment_id.clone(),
            amount: eur(100),
            reason: String::new(),
        };
        let refund = client.refund(authed(refund, &token)).await;
        for (rpc, code) in [
            ("Charge", charged.map(|_| ()).unwrap_err().code()),
            ("GetPayment", get.map(|_| ()).unwrap_err().code()),
            ("ListPayments", list.map(|_| ()).unwrap_err().code()),
            ("Refund", refund.map(|_| ()).unwrap_err().code()),
        ] {
            assert_eq!(code, Code::Unauthenticated, "{rpc} with {case}");
        }
    }
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments").await, 1);
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM refunds").await, 0);
}

/// A token of a session auth has revoked cannot charge or read payments; when auth cannot
/// confirm the session the call is UNAVAILABLE (retry), and nothing is charged meanwhile.
#[tokio::test]
async fn a_revoked_session_cannot_pay_and_an_unconfirmed_one_is_unavailable() {
    let app = spawn_app().await;
    let alice = app.shopper();
    let paid = charge(&app, &alice, "before", 1250, "tok_visa").await.unwrap();
    let sid = serde_json::from_slice::<serde_json::Value>(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            alice.token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    app.jwks.fail_session_check(true);
    assert_eq!(charge(&app, &alice, "unconfirmed", 100, "tok_visa").await.unwrap_err().code(), Code::Unavailable);
    app.jwks.fail_session_check(false);

    app.jwks.revoke(&sid);
    assert_eq!(charge(&app, &alice, "after", 100, "tok_visa").await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(get(&app, &alice, &paid.payment_id).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(count(&app.database_url, "SELECT CAST(count(*) AS SIGNED) AS n FROM payments").await, 1);
}

#[tokio::test]
async fn callers_are_verified_with_cached_keys_and_unavailable_when_none_could_be_fetched() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    charge(&app, &shopper, "c1", 100, "tok_visa").await.unwrap();
    charge(&app, &shopper, "c2", 100, "tok_visa").await.unwrap();
    assert_eq!(app.jwks.fetches(), 1, "the second call used the cached keys");
    app.jwks.fail(true);
    charge(&app, &shopper, "c3", 100, "tok_visa").await.unwrap();

    let down = crate::tokens::JwksServer::start(&[]);
    down.fail(true);
    let cold = spawn_app_with(|s| s.auth.jwks_url = down.url.clone()).await;
    let shopper = cold.shopper();
    let status = charge(&cold, &shopper, "c4", 100, "tok_visa").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn charges_whose_amount_is_not_their_lines_total_are_refused() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let cases = [
        // Two mugs at 25 € each, for 1 cent.
        ("cheap", ChargeRequest { amount: eur(1), ..charge_request("cheap", 5000, "tok_visa") }, "amount"),
        ("dear", ChargeRequest { amount: eur(5001), ..charge_request("dear", 5000, "tok_visa") }, "amount"),
        ("nothing", ChargeRequest { lines: Vec::new(), ..charge_request("nothing", 5000, "tok_visa") }, "lines"),
    ];
    for (key, request, field) in cases {
        let refused = app.payments().await.charge(authed(request, &shopper.token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{key}");
        assert!(refused.message().contains(field), "{key}: {}", refused.message());
        // Nothing was kept under the key: the honest request with it goes through.
        let paid = charge(&app, &shopper, key, 5000, "tok_visa").await.unwrap();
        assert_eq!(status(&paid), PaymentStatus::Succeeded, "{key}");
    }
}

/// Two replicas' reconcilers on one database (the chart runs two or more): each claims its own
/// due payments (`FOR UPDATE SKIP LOCKED` and a lease), so every pending charge goes to the
/// gateway once more, by one replica, and every one is settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_reconcile_every_pending_charge_exactly_once() {
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
    use payment_service::{db, gateway::stripe::Stripe, payments::Payments, reconciler::reconcile_once};
    const PENDING: usize = 12;
    let mock = StripeMock::start();
    mock.slow(Duration::from_millis(700));
    let app = crate::helpers::stripe_app(&mock, |s| {
        s.gateway.timeout = Duration::from_millis(200);
        // The app's own reconciler stays out of the way: the two replicas below do the work.
        s.gateway.reconcile_interval = Duration::from_secs(3600);
    })
    .await;
    let shopper = app.shopper();
    for n in 0..PENDING {
        let pending = charge(&app, &shopper, &format!("r{n}"), 100 + n as i64, "tok_visa").await.unwrap();
        assert_eq!(status(&pending), PaymentStatus::Pending);
    }
    mock.slow(Duration::ZERO);
    // The first tries reach the gateway late; then every payment is due now, not in seconds.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut conn = AsyncMysqlConnection::establish(&app.database_url).await.unwrap();
    diesel::sql_query("UPDATE payments SET next_attempt_at = NOW(6) - INTERVAL 1 SECOND WHERE status = 'pending'")
        .execute(&mut conn)
        .await
        .unwrap();
    let sent = || mock.calls(|c| c == "POST /v1/payment_intents");
    let first_tries = sent();

    let replica = || {
        let mut settings = payment_service::configuration::Settings::from_vars(Vec::new()).unwrap();
        settings.database.url = secrecy::SecretString::from(app.database_url.clone());
        let (_, migrated) = tokio::sync::watch::channel(true);
        let gateway =
            Stripe::new(mock.base_url.clone(), secrecy::SecretString::from("sk_test_mock"), Duration::from_secs(5));
        Payments::new(
            db::Db::new(db::build_pool(&settings.database).unwrap(), migrated),
            payment_service::gateway::Gateways { card: std::sync::Arc::new(gateway.unwrap()), paypal: None },
            app.events_topic.clone(),
            std::sync::Arc::new(tokio::sync::Notify::new()),
            Duration::from_secs(5),
            settings.database.timeout,
        )
        .unwrap()
    };
    let max_age = Duration::from_secs(3600);
    let (a, b) = (replica(), replica());
    let a = tokio::spawn(async move { reconcile_once(&a, max_age).await });
    let b = tokio::spawn(async move { reconcile_once(&b, max_age).await });
    let (by_a, by_b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());

    assert_eq!(by_a + by_b, PENDING, "attempted by each replica: {by_a} + {by_b}");
    assert_eq!(sent() - first_tries, PENDING, "a pending charge was sent again by both replicas");
    let pending = crate::helpers::count(
        &app.database_url,
        "SELECT CAST(count(*) AS SIGNED) AS n FROM payments WHERE status <> 'succeeded'",
    )
    .await;
    assert_eq!(pending, 0, "a payment was left unsettled");
    assert_eq!(mock.charges(), PENDING, "one charge at the gateway per payment");
}

#[tokio::test]
async fn a_charge_or_refund_waiting_for_the_gateway_holds_no_database_connection() {
    let mock = StripeMock::start();
    // One connection, given up after a second's wait: a request held across the gateway's
    // answer would starve every other request of it.
    let app = crate::helpers::stripe_app(&mock, |s| {
        s.database.pool_size = 1;
        s.database.timeout = Duration::from_secs(1);
        s.gateway.timeout = Duration::from_secs(10);
    })
    .await;
    app.wait_until_ready().await;
    let shopper = app.shopper();
    let unknown = uuid::Uuid::now_v7().to_string();

    mock.slow(Duration::from_secs(4));
    let (charging, charger) = (app.payments().await, shopper.token.clone());
    let charge = tokio::spawn(async move {
        let mut client = charging;
        client.charge(authed(charge_request("held", 2000, "tok_visa"), &charger)).await
    });
    assert!(crate::helpers::eventually(10, || async { mock.requests() >= 1 }).await, "the charge never reached Stripe");
    // The charge waits at the gateway; a look-up gets the connection and answers.
    assert_eq!(get(&app, &shopper, &unknown).await.unwrap_err().code(), Code::NotFound);
    let paid = charge.await.unwrap().unwrap().into_inner().payment.unwrap();
    assert_eq!(status(&paid), PaymentStatus::Succeeded);

    let asked = mock.requests();
    let (refunding, refunder, paid_id) = (app.payments().await, shopper.token.clone(), paid.payment_id.clone());
    let refunded = tokio::spawn(async move {
        let mut client = refunding;
        let request = RefundRequest {
            idempotency_key: "held-refund".to_owned(),
            payment_id: paid_id,
            amount: eur(500),
            reason: "requested_by_customer".to_owned(),
        };
        client.refund(authed(request, &refunder)).await
    });
    assert!(
        crate::helpers::eventually(10, || async { mock.requests() > asked }).await,
        "the refund never reached Stripe"
    );
    assert_eq!(get(&app, &shopper, &unknown).await.unwrap_err().code(), Code::NotFound);
    let after = refunded.await.unwrap().unwrap().into_inner().payment.unwrap();
    assert_eq!(after.refunded.map(|m| m.amount_minor), Some(500));
    mock.slow(Duration::ZERO);
}
