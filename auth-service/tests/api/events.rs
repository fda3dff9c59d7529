//! Events against the real broker: UserRegistered through the outbox, and the order history
//! consumed from payment events (idempotent, poison-tolerant).
use crate::{
    helpers::{free_port, kafka_brokers, spawn_app, spawn_app_with, unique_email},
    kafka::{create_topics, header, produce, read, ThrowawayBroker},
    metrics,
};
use auth_service::proto::shop::{
    common::v1::Money,
    events::v1::{Envelope, PaidLine, PaymentRefunded, PaymentSucceeded, SessionRevoked, UserRegistered},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use prost::Message as _;
use rdkafka::Message;
use serde_json::{json, Value};
use std::{collections::HashMap, time::Duration};

const PASSWORD: &str = "correct horse battery";

fn registered(message: &rdkafka::message::OwnedMessage) -> (Envelope, UserRegistered) {
    let envelope = Envelope::decode(message.payload().unwrap()).unwrap();
    assert_eq!(envelope.event_type, "shop.events.v1.UserRegistered");
    assert_eq!(envelope.producer, "auth-service");
    let event = UserRegistered::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(message.key(), Some(event.user_id.as_bytes()), "the key is the aggregate id");
    (envelope, event)
}

#[tokio::test]
async fn signup_publishes_user_registered_through_the_outbox() {
    let app = spawn_app().await;
    let email = unique_email();
    let response = app.signup(&email, PASSWORD).await;
    let user_id = response.json::<Value>().await.unwrap()["user_id"].as_str().unwrap().to_owned();

    let messages = read(&kafka_brokers(), &app.events_topic, 1, Duration::from_secs(30)).await;
    assert_eq!(messages.len(), 1);
    let (envelope, event) = registered(&messages[0]);
    assert_eq!(event.user_id, user_id);
    assert_eq!(event.email, email);
    assert_eq!(envelope.aggregate_id, user_id);
    assert_eq!(uuid::Uuid::parse_str(&envelope.event_id).unwrap().get_version_num(), 7);
    assert!(header(&messages[0], "traceparent").is_some_and(|t| t.starts_with("00-")));
}

/// Logout and a reused refresh token each publish one `SessionRevoked` for their session;
/// logging out of a session already revoked publishes nothing more.
#[tokio::test]
async fn revoked_sessions_are_published_once_each_with_when_their_tokens_expire() {
    let app = spawn_app().await;
    let email = unique_email();
    app.signup(&email, PASSWORD).await;
    let claims_of = |tokens: &Value| -> Value {
        let payload = tokens["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
        use base64::Engine as _;
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let logged_out: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let logout = json!({ "refresh_token": logged_out["refresh_token"] });
    assert_eq!(app.post_json("/v1/auth/logout", &logout).await.status(), 204);
    assert_eq!(app.post_json("/v1/auth/logout", &logout).await.status(), 204, "a repeat is harmless");
    let stolen: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let replay = json!({ "refresh_token": stolen["refresh_token"] });
    assert_eq!(app.post_json("/v1/auth/refresh", &replay).await.status(), 200);
    assert_eq!(app.post_json("/v1/auth/refresh", &replay).await.status(), 401);

    // UserRegistered, then one SessionRevoked per session; a fourth record would be a repeat.
    let messages = read(&kafka_brokers(), &app.events_topic, 4, Duration::from_secs(15)).await;
    assert_eq!(messages.len(), 3, "one event per revoked session");
    let revoked: Vec<(String, SessionRevoked)> = messages[1..]
        .iter()
        .map(|m| {
            let envelope = Envelope::decode(m.payload().unwrap()).unwrap();
            assert_eq!(envelope.event_type, "shop.events.v1.SessionRevoked");
            let event = SessionRevoked::decode(envelope.payload.as_slice()).unwrap();
            assert_eq!(m.key(), Some(event.user_id.as_bytes()), "keyed by user id");
            (envelope.event_id, event)
        })
        .collect();
    for ((_, event), (tokens, reason)) in
        revoked.iter().zip([(&logged_out, "logout"), (&stolen, "refresh token reused")])
    {
        let claims = claims_of(tokens);
        assert_eq!(event.session_id, claims["sid"].as_str().unwrap());
        assert_eq!(event.user_id, claims["sub"].as_str().unwrap());
        assert_eq!(event.reason, reason);
        // Every access token of the session expires by then (the configured 15 minutes).
        let expire = event.tokens_expire_at.unwrap().seconds;
        assert!(expire >= claims["exp"].as_i64().unwrap(), "{expire} before the token's exp");
        assert!(expire <= event.revoked_at.unwrap().seconds + 900);
    }
}

#[tokio::test]
async fn with_the_broker_down_signups_succeed_and_every_event_arrives_once_it_is_back() {
    let port = free_port();
    let broker_address = format!("127.0.0.1:{port}");
    let brokers = broker_address.clone();
    let app = spawn_app_with(|s| s.kafka.brokers = brokers).await;
    app.wait_until_ready_or(503).await;

    let mut user_ids = Vec::new();
    for _ in 0..3 {
        let response = app.signup(&unique_email(), PASSWORD).await;
        assert_eq!(response.status(), 201);
        user_ids.push(response.json::<Value>().await.unwrap()["user_id"].as_str().unwrap().to_owned());
    }

    // The broker comes up (empty), its topic is created, and the relay catches up.
    let broker = ThrowawayBroker::start(port);
    create_topics(&broker.address, &[&app.events_topic]).await;
    let messages = read(&broker.address, &app.events_topic, 3, Duration::from_secs(60)).await;
    let mut per_event: HashMap<String, usize> = HashMap::new();
    let mut users = Vec::new();
    for message in &messages {
        let (envelope, event) = registered(message);
        *per_event.entry(envelope.event_id).or_default() += 1;
        users.push(event.user_id);
    }
    assert!(per_event.values().all(|n| *n == 1), "duplicates: {per_event:?}");
    users.sort();
    user_ids.sort();
    assert_eq!(users, user_ids);
}

fn envelope(event_id: &str, event_type: &str, aggregate: &str, payload: Vec<u8>) -> Vec<u8> {
    Envelope {
        event_id: event_id.to_owned(),
        event_type: event_type.to_owned(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        producer: "payment-service".to_owned(),
        aggregate_id: aggregate.to_owned(),
        payload,
    }
    .encode_to_vec()
}

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money { amount_minor, currency: "EUR".to_owned() })
}

async fn orders_of(app: &crate::helpers::TestApp, access_token: &str, wanted: usize) -> Value {
    for _ in 0..200 {
        let orders: Value = app.get_with_token("/v1/auth/me/orders", access_token).await.json().await.unwrap();
        if orders["orders"].as_array().unwrap().len() >= wanted {
            return orders;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {wanted} orders after 20 s");
}

#[tokio::test]
async fn a_payment_event_delivered_twice_records_one_order_and_poison_goes_to_the_dlq() {
    let app = spawn_app().await;
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = app.get_with_token("/v1/auth/me", access).await.json().await.unwrap();
    let user_id = me["user_id"].as_str().unwrap().to_owned();
    let brokers = kafka_brokers();

    let paid = PaymentSucceeded {
        payment_id: "pay_1".into(),
        user_id: user_id.clone(),
        order_id: "order_1".into(),
        amount: eur(2_500),
        lines: vec![PaidLine { product_id: "p1".into(), name: "Mug".into(), quantity: 2, unit_price: eur(1_250) }],
        succeeded_at: Some(std::time::SystemTime::now().into()),
    };
    let event =
        envelope(&uuid::Uuid::now_v7().to_string(), "shop.events.v1.PaymentSucceeded", &user_id, paid.encode_to_vec());
    produce(&brokers, &app.payment_events_topic, &user_id, &event).await;
    produce(&brokers, &app.payment_events_topic, &user_id, &event).await;
    // A record that is not an Envelope at all: parked in the DLQ, consumption carries on.
    produce(&brokers, &app.payment_events_topic, &user_id, b"\xff\xfe not protobuf").await;
    let refund = PaymentRefunded {
        payment_id: "pay_1".into(),
        refund_id: "re_1".into(),
        user_id: user_id.clone(),
        order_id: "order_1".into(),
        amount: eur(1_250),
        total_refunded: eur(1_250),
    };
    let refunded =
        envelope(&uuid::Uuid::now_v7().to_string(), "shop.events.v1.PaymentRefunded", &user_id, refund.encode_to_vec());
    produce(&brokers, &app.payment_events_topic, &user_id, &refunded).await;

    let mut orders = orders_of(&app, access, 1).await;
    for _ in 0..100 {
        if orders["orders"][0]["refunded"]["amount_minor"] == 1_250 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        orders = orders_of(&app, access, 1).await;
    }
    let list = orders["orders"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{orders}");
    assert_eq!(list[0]["payment_id"], "pay_1");
    assert_eq!(list[0]["total"]["amount_minor"], 2_500);
    assert_eq!(list[0]["refunded"]["amount_minor"], 1_250, "the refund after the poison record applied");
    assert_eq!(list[0]["lines"][0]["quantity"], 2);

    let dead = read(&brokers, &format!("{}.dlq", app.payment_events_topic), 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload(), Some(b"\xff\xfe not protobuf".as_slice()));
    assert!(header(&dead[0], "dlq-error").is_some_and(|e| e.contains("not an Envelope")));
}

/// An Envelope whose type the topic's catalogue does not list (another topic's type, or one no
/// contract names) is not the platform's: parked in the DLQ with that reason, not passed over
/// unseen; the next listed event still applies.
#[tokio::test]
async fn an_event_type_the_catalogue_does_not_list_goes_to_the_dlq_and_consumption_carries_on() {
    let app = spawn_app().await;
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = app.get_with_token("/v1/auth/me", access).await.json().await.unwrap();
    let user_id = me["user_id"].as_str().unwrap().to_owned();
    let brokers = kafka_brokers();

    for stranger in ["shop.events.v1.StockChanged", "shop.events.v1.PaymentChargedTwice"] {
        let event = envelope(&uuid::Uuid::now_v7().to_string(), stranger, &user_id, vec![1, 2, 3]);
        produce(&brokers, &app.payment_events_topic, &user_id, &event).await;
    }
    let paid = PaymentSucceeded {
        payment_id: "pay_listed".into(),
        user_id: user_id.clone(),
        order_id: "order_listed".into(),
        amount: eur(900),
        lines: vec![PaidLine { product_id: "p1".into(), name: "Mug".into(), quantity: 1, unit_price: eur(900) }],
        succeeded_at: Some(std::time::SystemTime::now().into()),
    };
    let event =
        envelope(&uuid::Uuid::now_v7().to_string(), "shop.events.v1.PaymentSucceeded", &user_id, paid.encode_to_vec());
    produce(&brokers, &app.payment_events_topic, &user_id, &event).await;

    let orders = orders_of(&app, access, 1).await;
    assert_eq!(orders["orders"][0]["payment_id"], "pay_listed", "{orders}");
    let dead = read(&brokers, &format!("{}.dlq", app.payment_events_topic), 2, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 2);
    for (record, stranger) in dead.iter().zip(["StockChanged", "PaymentChargedTwice"]) {
        let reason = header(record, "dlq-error").unwrap_or_default();
        assert!(reason.contains(stranger) && reason.contains("is not in the catalogue of"), "{reason}");
    }
    let parked = format!(r#"events_dead_lettered_total{{topic="{}"}}"#, app.payment_events_topic);
    metrics::until(&app, &parked, Duration::from_secs(10), |v| v == 2.0).await;
}

/// The consumer's lag is the group's: records behind its committed offset. Held up by a lock on
/// the orders table, the consumer falls behind by the records produced meanwhile, and catches
/// up once the lock goes.
#[tokio::test]
async fn the_consumer_lag_counts_the_records_not_yet_applied() {
    let app = spawn_app().await;
    let user_id = uuid::Uuid::now_v7().to_string();
    let brokers = kafka_brokers();
    let lag = format!(r#"kafka_consumer_lag_messages{{topic="{}"}}"#, app.payment_events_topic);
    let within = Duration::from_secs(30);
    let paid = |n: usize| {
        let paid = PaymentSucceeded {
            payment_id: format!("pay_lag_{n}"),
            user_id: user_id.clone(),
            order_id: format!("order_lag_{n}"),
            amount: eur(100),
            lines: vec![],
            succeeded_at: Some(std::time::SystemTime::now().into()),
        };
        envelope(&uuid::Uuid::now_v7().to_string(), "shop.events.v1.PaymentSucceeded", &user_id, paid.encode_to_vec())
    };
    // A first record applied: its offset is committed within the auto-commit interval (5 s).
    produce(&brokers, &app.payment_events_topic, &user_id, &paid(0)).await;
    wait_for_orders(&app.database_url, 1).await;

    let mut holder = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    holder.batch_execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE").await.unwrap();
    for n in 1..=4 {
        produce(&brokers, &app.payment_events_topic, &user_id, &paid(n)).await;
    }
    // Four records wait behind the lock; five until the first one's offset is committed.
    let behind = metrics::until(&app, &lag, within, |v| v >= 4.0).await;
    assert!(behind <= 5.0, "four records wait, the lag says {behind}");

    holder.batch_execute("COMMIT").await.unwrap();
    wait_for_orders(&app.database_url, 5).await;
    metrics::until(&app, &lag, within, |v| v == 0.0).await;
}

/// Waits until the orders table has `wanted` rows.
async fn wait_for_orders(database_url: &str, wanted: i64) {
    for _ in 0..300 {
        if crate::helpers::count(database_url, "SELECT count(*) AS n FROM orders").await >= wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {wanted} orders after 30 s");
}

#[tokio::test]
async fn order_history_is_newest_first_and_private() {
    let app = spawn_app().await;
    let alice = app.signed_in(&unique_email(), PASSWORD).await;
    let bob = app.signed_in(&unique_email(), PASSWORD).await;
    let alice_token = alice["access_token"].as_str().unwrap();
    let alice_id = app.get_with_token("/v1/auth/me", alice_token).await.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (n, seconds_ago) in [(1, 3600), (2, 60)] {
        let paid = PaymentSucceeded {
            payment_id: format!("pay_{n}"),
            user_id: alice_id.clone(),
            order_id: format!("order_{n}"),
            amount: eur(100 * n),
            lines: vec![],
            succeeded_at: Some((std::time::SystemTime::now() - Duration::from_secs(seconds_ago)).into()),
        };
        let event = envelope(
            &uuid::Uuid::now_v7().to_string(),
            "shop.events.v1.PaymentSucceeded",
            &alice_id,
            paid.encode_to_vec(),
        );
        produce(&kafka_brokers(), &app.payment_events_topic, &alice_id, &event).await;
    }
    let orders = orders_of(&app, alice_token, 2).await;
    let ids: Vec<_> = orders["orders"].as_array().unwrap().iter().map(|o| o["payment_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pay_2", "pay_1"]);
    let bobs: Value =
        app.get_with_token("/v1/auth/me/orders", bob["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(bobs["orders"].as_array().unwrap().len(), 0);
}
