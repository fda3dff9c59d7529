//! The product and payment events consumer against the real broker and Redis: availability
//! and snapshot updates reach carts, a broken record goes to the dead-letter topic and later
//! good records still apply.
use crate::{
    helpers::{closed_port, kafka_brokers, mug_snapshot, spawn_app, spawn_app_with, TestApp},
    kafka::read,
};
use cart_service::proto::shop::{
    common::v1::Money,
    events::v1::{
        Envelope, PaidLine, PaymentSucceeded, ProductBackInStock, ProductOutOfStock, ProductUpdated, SessionRevoked,
    },
};
use prost::Message as _;
use rdkafka::{
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message as _,
};
use std::time::Duration;

fn envelope(event_type: &str, aggregate_id: &str, payload: Vec<u8>) -> Vec<u8> {
    envelope_with_id(&uuid::Uuid::now_v7().to_string(), event_type, aggregate_id, payload)
}

fn envelope_with_id(event_id: &str, event_type: &str, aggregate_id: &str, payload: Vec<u8>) -> Vec<u8> {
    let producer = if event_type.starts_with("Payment") { "payment-service" } else { "product-service" };
    Envelope {
        event_id: event_id.to_owned(),
        event_type: format!("shop.events.v1.{event_type}"),
        occurred_at: None,
        producer: producer.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        payload,
    }
    .encode_to_vec()
}

async fn publish(topic: &str, key: &str, value: &[u8]) {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", kafka_brokers()).create().unwrap();
    producer.send(FutureRecord::to(topic).key(key).payload(value), Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn stock_and_name_events_reach_the_cart_and_a_broken_record_is_dead_lettered() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    let snapshot = mug_snapshot(&mug);
    app.store().add(&shopper.user_id, &snapshot, 1).await.unwrap();

    publish(&app.product_topic, &mug, b"definitely not protobuf").await;
    let out = ProductOutOfStock { product_id: mug.clone(), version: 2 }.encode_to_vec();
    publish(&app.product_topic, &mug, &envelope("ProductOutOfStock", &mug, out)).await;
    let line = wait_for(&app, &shopper.user_id, |l| !l.available).await;
    assert_eq!(line.version, 2);

    let back = ProductBackInStock { product_id: mug.clone(), available: 5, version: 3 }.encode_to_vec();
    publish(&app.product_topic, &mug, &envelope("ProductBackInStock", &mug, back)).await;
    let updated = ProductUpdated {
        product_id: mug.clone(),
        name: "Tin mug".to_owned(),
        price: Some(Money { amount_minor: 990, currency: "EUR".to_owned() }),
        active: true,
        version: 4,
    }
    .encode_to_vec();
    publish(&app.product_topic, &mug, &envelope("ProductUpdated", &mug, updated)).await;
    let line = wait_for(&app, &shopper.user_id, |l| l.name == "Tin mug").await;
    assert!(line.available);
    assert_eq!(line.unit_price.amount_minor, 990);

    let dead = read(&kafka_brokers(), &format!("{}.dlq", app.product_topic), 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload(), Some(b"definitely not protobuf".as_slice()));
}

/// An Envelope whose type the product topic's catalogue does not list (payment's
/// PaymentSucceeded, sent to the wrong topic) is parked in the DLQ with that reason and changes
/// no cart; the listed event after it applies.
#[tokio::test]
async fn an_event_type_the_topics_catalogue_does_not_list_is_dead_lettered() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    app.store().add(&shopper.user_id, &mug_snapshot(&mug), 1).await.unwrap();

    let out = ProductOutOfStock { product_id: mug.clone(), version: 2 }.encode_to_vec();
    publish(&app.product_topic, &mug, &envelope("PaymentSucceeded", &mug, out.clone())).await;
    publish(&app.product_topic, &mug, &envelope("ProductOutOfStock", &mug, out)).await;
    let line = wait_for(&app, &shopper.user_id, |l| !l.available).await;
    assert_eq!(line.version, 2);

    let dead = read(&kafka_brokers(), &format!("{}.dlq", app.product_topic), 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .headers()
        .and_then(|headers| {
            use rdkafka::message::Headers as _;
            headers.iter().find(|h| h.key == "dlq-error").and_then(|h| h.value)
        })
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default();
    assert!(reason.contains("PaymentSucceeded") && reason.contains("is not in the catalogue of"), "{reason}");

    // Counted by the topic it came from.
    let parked = format!(r#"events_dead_lettered_total{{topic="{}"}}"#, app.product_topic);
    for _ in 0..100 {
        let page = app.get("/metrics").await.text().await.unwrap();
        let value = page
            .lines()
            .find_map(|line| line.strip_prefix(parked.as_str())?.strip_prefix(' ')?.trim().parse::<f64>().ok());
        if value == Some(1.0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{parked} never reached 1");
}

async fn wait_for(
    app: &crate::helpers::TestApp,
    user_id: &str,
    wanted: impl Fn(&cart_service::store::Line) -> bool,
) -> cart_service::store::Line {
    for _ in 0..300 {
        if let Some(line) = app.store().lines(user_id).await.unwrap().into_iter().next() {
            if wanted(&line) {
                return line;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the event did not reach the cart within 30 s");
}

/// The status of a cart read with `token`, polled until it is `wanted` (up to 10 s).
async fn status_becomes(app: &crate::helpers::TestApp, token: &str, wanted: u16) -> u16 {
    let mut status = 0;
    for _ in 0..100 {
        let response = app.client.get(format!("{}/v1/cart", app.address)).bearer_auth(token).send().await.unwrap();
        status = response.status().as_u16();
        if status == wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    status
}

/// A session auth revoked: its tokens are refused by the replica that consumed the event and,
/// through Redis, by a replica that did not; other sessions of the same user are not.
#[tokio::test]
async fn tokens_of_a_revoked_session_are_refused_by_every_replica() {
    let app = spawn_app().await;
    // A second replica on the same Redis that never sees the event itself.
    let other =
        spawn_app_with(|s| s.kafka.auth_events_topic = format!("test.{}.unused", uuid::Uuid::now_v7().simple())).await;
    let user_id = uuid::Uuid::now_v7().to_string();
    let (revoked_sid, kept_sid) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let token = |key: &crate::tokens::TestKey, sid: &str| {
        key.token_with(&["customer"], |c| {
            c["sub"] = serde_json::json!(user_id);
            c["sid"] = serde_json::json!(sid);
        })
    };
    let (revoked, kept) = (token(&app.auth_key, &revoked_sid), token(&app.auth_key, &kept_sid));
    let on_other = token(&other.auth_key, &revoked_sid);
    assert_eq!(status_becomes(&app, &revoked, 200).await, 200, "remembered as verified before the revocation");
    assert_eq!(status_becomes(&other, &on_other, 200).await, 200);

    let now = std::time::SystemTime::now();
    let event = SessionRevoked {
        session_id: revoked_sid.clone(),
        user_id: user_id.clone(),
        reason: "logout".to_owned(),
        revoked_at: Some(now.into()),
        tokens_expire_at: Some((now + Duration::from_secs(900)).into()),
    };
    let mut record = Envelope::decode(envelope("SessionRevoked", &user_id, event.encode_to_vec()).as_slice()).unwrap();
    record.producer = "auth-service".to_owned();
    publish(&app.auth_topic, &user_id, &record.encode_to_vec()).await;

    assert_eq!(status_becomes(&app, &revoked, 401).await, 401, "the consuming replica refuses the session");
    assert_eq!(status_becomes(&other, &on_other, 401).await, 401, "so does the other replica");
    let still = app.client.get(format!("{}/v1/cart", app.address)).bearer_auth(&kept).send().await.unwrap();
    assert_eq!(still.status(), 200, "another session of the user is untouched");
}

/// Polls cart's redelivery mark of an event (up to 30 s): set once the event was applied.
async fn applied(app: &TestApp, event_id: &str) -> bool {
    for _ in 0..300 {
        if app.store().get(&format!("cart:event:{event_id}")).await.unwrap().is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Product announces each reservation and each sale (`StockChanged`): no cart changes, so cart
/// keeps no mark of it either (two Redis commands a checkout).
#[tokio::test]
async fn an_event_that_changes_no_cart_leaves_no_redelivery_mark() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    app.store().add(&shopper.user_id, &mug_snapshot(&mug), 1).await.unwrap();

    let (stock_changed, out_of_stock) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    publish(&app.product_topic, &mug, &envelope_with_id(&stock_changed, "StockChanged", &mug, Vec::new())).await;
    let out = ProductOutOfStock { product_id: mug.clone(), version: 2 }.encode_to_vec();
    publish(&app.product_topic, &mug, &envelope_with_id(&out_of_stock, "ProductOutOfStock", &mug, out)).await;
    // Same key, same partition: the second is applied after the first was handled.
    assert!(applied(&app, &out_of_stock).await, "the ProductOutOfStock after it was never applied");
    let kept = app.store().get(&format!("cart:event:{stock_changed}")).await.unwrap();
    assert_eq!(kept, None, "a StockChanged was remembered");
}

/// The checkout itself settled its sale (product committed it, the cart gave up the bought
/// units): the PaymentSucceeded that follows asks product nothing, here unreachable, and takes
/// nothing from the cart a second time.
#[tokio::test]
async fn a_payment_its_checkout_settled_already_needs_nothing_of_product() {
    let product = format!("http://127.0.0.1:{}", closed_port());
    let app = spawn_app_with(|settings| settings.upstream.product_grpc_url = product).await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    app.store().add(&shopper.user_id, &mug_snapshot(&mug), 3).await.unwrap();
    let order_id = uuid::Uuid::now_v7().to_string();
    let bought = [(mug.clone(), 1)];
    app.store().settle(&shopper.user_id, &order_id, &bought).await.unwrap();
    assert_eq!(app.store().lines(&shopper.user_id).await.unwrap()[0].quantity, 2);

    let paid = PaymentSucceeded {
        payment_id: uuid::Uuid::now_v7().to_string(),
        user_id: shopper.user_id.clone(),
        order_id,
        amount: Some(Money { amount_minor: 1250, currency: "EUR".to_owned() }),
        lines: vec![PaidLine { product_id: mug.clone(), quantity: 1, ..Default::default() }],
        succeeded_at: None,
    }
    .encode_to_vec();
    let event_id = uuid::Uuid::now_v7().to_string();
    publish(
        &app.payment_topic,
        &shopper.user_id,
        &envelope_with_id(&event_id, "PaymentSucceeded", &shopper.user_id, paid),
    )
    .await;
    assert!(applied(&app, &event_id).await, "the PaymentSucceeded waited for product");
    assert_eq!(app.store().lines(&shopper.user_id).await.unwrap()[0].quantity, 2, "the sale left the cart twice");
}
