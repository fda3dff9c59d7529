//! Stock reservations over gRPC against real PostgreSQL and the real broker: no oversell
//! under concurrency, idempotency by reservation id, all-or-nothing, expiry, and events.
use crate::{
    helpers::{spawn_app, spawn_app_with, TestApp},
    kafka::read,
    pki::Caller,
};
use product_service::proto::shop::{
    common::v1::Money,
    events::v1::{Envelope, ReservationReleased},
    product::v1::{
        product_service_client::ProductServiceClient, BatchGetProductsRequest, CommitReservationRequest,
        GetProductRequest, GetReservationRequest, ReleaseReservationRequest, ReservationLine, ReservationState,
        ReserveStockRequest,
    },
};
use prost::Message as _;
use rdkafka::Message;
use std::time::Duration;
use tonic::{transport::Channel, Code};
use uuid::Uuid;

type Client = ProductServiceClient<Channel>;

async fn client(app: &TestApp) -> Client {
    ProductServiceClient::new(app.grpc_channel().await)
}

/// A commit paid `amount_minor` euros.
fn commit(id: &str, amount_minor: i64) -> CommitReservationRequest {
    CommitReservationRequest {
        reservation_id: id.to_owned(),
        paid: Some(Money { amount_minor, currency: "EUR".to_owned() }),
    }
}

fn reserve(id: &str, lines: &[(Uuid, i64)]) -> ReserveStockRequest {
    ReserveStockRequest {
        reservation_id: id.to_owned(),
        lines: lines.iter().map(|(p, q)| ReservationLine { product_id: p.to_string(), quantity: *q }).collect(),
    }
}

async fn available(client: &mut Client, id: Uuid) -> i64 {
    let request = GetProductRequest { product_id: id.to_string() };
    client.get_product(request).await.unwrap().into_inner().product.unwrap().available
}

async fn events_of(app: &TestApp, product: Uuid, at_least: usize) -> Vec<String> {
    app.event_types_of(product, at_least).await
}

#[tokio::test]
async fn fifty_concurrent_reservations_of_ten_units_sell_exactly_ten() {
    let app = spawn_app().await;
    let product = app.add_product(10, 1_250).await;
    let client = client(&app).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let mut client = client.clone();
        calls.spawn(async move { client.reserve_stock(reserve(&Uuid::now_v7().to_string(), &[(product, 1)])).await });
    }
    let outcomes = calls.join_all().await;
    let reserved = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(reserved, 10);
    assert_eq!(refused.len(), 40);
    assert!(refused.iter().all(|s| s.code() == Code::FailedPrecondition && s.message().starts_with("out_of_stock")));
    assert_eq!(available(&mut client.clone(), product).await, 0);

    let events = events_of(&app, product, 11).await;
    assert_eq!(events.iter().filter(|t| *t == "shop.events.v1.ProductOutOfStock").count(), 1, "{events:?}");
    assert_eq!(events.iter().filter(|t| *t == "shop.events.v1.StockChanged").count(), 10, "{events:?}");
}

#[tokio::test]
async fn commit_sells_the_stock_and_repeats_change_nothing() {
    let app = spawn_app().await;
    let product = app.add_product(10, 500).await;
    let mut client = client(&app).await;
    let id = Uuid::now_v7().to_string();

    let reservation =
        client.reserve_stock(reserve(&id, &[(product, 3)])).await.unwrap().into_inner().reservation.unwrap();
    assert_eq!(reservation.state, ReservationState::Reserved as i32);
    assert_eq!(reservation.total.unwrap().amount_minor, 1_500);
    assert_eq!(available(&mut client, product).await, 7);
    // A repeated reserve returns the first outcome and holds nothing more.
    let again = client.reserve_stock(reserve(&id, &[(product, 3)])).await.unwrap().into_inner().reservation.unwrap();
    assert_eq!(again.lines.len(), 1);
    assert_eq!(available(&mut client, product).await, 7);

    for _ in 0..2 {
        let committed = client.commit_reservation(commit(&id, 1_500)).await.unwrap();
        assert_eq!(committed.into_inner().reservation.unwrap().state, ReservationState::Committed as i32);
    }
    let sql = format!("SELECT on_hand AS n FROM products WHERE id = '{product}'");
    assert_eq!(crate::helpers::count(&app.database_url, &sql).await, 7, "stock on hand dropped by 3, once");
    assert_eq!(available(&mut client, product).await, 7);

    let release = client.release_reservation(ReleaseReservationRequest { reservation_id: id }).await.unwrap_err();
    assert_eq!(release.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_payment_that_is_not_the_reservations_total_sells_nothing() {
    let app = spawn_app().await;
    let product = app.add_product(10, 500).await;
    let mut client = client(&app).await;
    let id = Uuid::now_v7().to_string();
    client.reserve_stock(reserve(&id, &[(product, 3)])).await.unwrap();

    let other_currency = CommitReservationRequest {
        reservation_id: id.clone(),
        paid: Some(Money { amount_minor: 1_500, currency: "USD".to_owned() }),
    };
    for request in [commit(&id, 1), commit(&id, 1_499), commit(&id, 1_501), other_currency.clone()] {
        let status = client.commit_reservation(request).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().starts_with("payment_mismatch"), "{}", status.message());
    }
    let sql = format!("SELECT on_hand AS n FROM products WHERE id = '{product}'");
    assert_eq!(crate::helpers::count(&app.database_url, &sql).await, 10, "nothing was sold");
    assert_eq!(available(&mut client, product).await, 7, "the reservation still holds its stock");

    client.commit_reservation(commit(&id, 1_500)).await.unwrap();
    assert_eq!(crate::helpers::count(&app.database_url, &sql).await, 7);
    // Once sold, an underpaying commit is refused all the same.
    let late = client.commit_reservation(commit(&id, 1)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert_eq!(client.commit_reservation(other_currency).await.unwrap_err().code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn release_returns_the_stock_once_and_cannot_be_committed_after() {
    let app = spawn_app().await;
    let product = app.add_product(4, 500).await;
    let mut client = client(&app).await;
    let id = Uuid::now_v7().to_string();
    client.reserve_stock(reserve(&id, &[(product, 4)])).await.unwrap();
    assert_eq!(available(&mut client, product).await, 0);
    for _ in 0..2 {
        let released =
            client.release_reservation(ReleaseReservationRequest { reservation_id: id.clone() }).await.unwrap();
        assert_eq!(released.into_inner().reservation.unwrap().state, ReservationState::Released as i32);
    }
    assert_eq!(available(&mut client, product).await, 4);
    let refused = client.commit_reservation(commit(&id, 2_000)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // Reserved: StockChanged + OutOfStock; released: StockChanged + BackInStock +
    // ReservationReleased (the product itself was written straight to the database).
    let events = events_of(&app, product, 5).await;
    assert_released_once(&app, &id, "released", 5).await;
    assert_eq!(
        events
            .iter()
            .filter(|t| t.ends_with("ProductOutOfStock") || t.ends_with("ProductBackInStock"))
            .collect::<Vec<_>>(),
        ["shop.events.v1.ProductOutOfStock", "shop.events.v1.ProductBackInStock"],
        "in order per product"
    );
}

/// GetReservation tells where a reservation stands, with its lines and total, and changes nothing.
#[tokio::test]
async fn a_reservation_is_read_as_it_stands_and_an_unknown_one_is_not_found() {
    let app = spawn_app().await;
    let product = app.add_product(5, 700).await;
    let mut client = client(&app).await;
    // The sweeper's question: payment asks it, not cart.
    let mut payment = ProductServiceClient::new(app.grpc_channel_as(Caller::Workload("payment-service")).await);
    let id = Uuid::now_v7().to_string();
    let read = |id: &str| GetReservationRequest { reservation_id: id.to_owned() };
    client.reserve_stock(reserve(&id, &[(product, 2)])).await.unwrap();
    let held = payment.get_reservation(read(&id)).await.unwrap().into_inner().reservation.unwrap();
    assert_eq!((held.state, held.lines.len()), (ReservationState::Reserved as i32, 1));
    assert_eq!(held.total, Some(Money { amount_minor: 1_400, currency: "EUR".to_owned() }));
    assert_eq!(available(&mut client, product).await, 3, "reading holds or frees nothing");
    client.commit_reservation(commit(&id, 1_400)).await.unwrap();
    let sold = payment.get_reservation(read(&id)).await.unwrap().into_inner().reservation.unwrap();
    assert_eq!(sold.state, ReservationState::Committed as i32);

    let unknown = payment.get_reservation(read(&Uuid::now_v7().to_string())).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let invalid = payment.get_reservation(read("")).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_reservation_not_committed_in_time_expires_and_returns_its_stock() {
    let app = spawn_app_with(|s| {
        s.reservations.ttl = Duration::from_secs(1);
        s.reservations.expiry_interval = Duration::from_millis(100);
    })
    .await;
    let product = app.add_product(2, 500).await;
    let mut client = client(&app).await;
    let id = Uuid::now_v7().to_string();
    client.reserve_stock(reserve(&id, &[(product, 2)])).await.unwrap();
    assert_eq!(available(&mut client, product).await, 0);

    let mut back = 0;
    for _ in 0..50 {
        back = available(&mut client, product).await;
        if back == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(back, 2, "the expiry task returned the stock");
    let refused = client.commit_reservation(commit(&id, 1_000)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let released = client.release_reservation(ReleaseReservationRequest { reservation_id: id.clone() }).await.unwrap();
    assert_eq!(released.into_inner().reservation.unwrap().state, ReservationState::Expired as i32);
    assert_eq!(available(&mut client, product).await, 2, "releasing an expired reservation returns nothing twice");
    // Reserved: StockChanged + OutOfStock; expired: StockChanged + BackInStock +
    // ReservationReleased.
    assert_released_once(&app, &id, "expired", 5).await;
}

/// Exactly one `ReservationReleased` for the reservation, with its reason: the signal
/// payment-service refunds a charge of a checkout that did not become a sale by.
async fn assert_released_once(app: &TestApp, reservation_id: &str, reason: &str, at_least: usize) {
    let envelopes = app.envelopes_of(reservation_id, at_least).await;
    let released: Vec<ReservationReleased> = envelopes
        .iter()
        .filter(|e| e.event_type == "shop.events.v1.ReservationReleased")
        .map(|e| ReservationReleased::decode(e.payload.as_slice()).unwrap())
        .collect();
    assert_eq!(released.len(), 1, "one ReservationReleased per reservation, however often it is released");
    assert_eq!(released[0].reservation_id, reservation_id);
    assert_eq!(released[0].reason, reason);
}

#[tokio::test]
async fn a_short_line_holds_nothing_at_all() {
    let app = spawn_app().await;
    let plenty = app.add_product(100, 100).await;
    let scarce = app.add_product(1, 100).await;
    let mut client = client(&app).await;
    let status = client.reserve_stock(reserve("order-1", &[(plenty, 5), (scarce, 2)])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains(&scarce.to_string()), "{}", status.message());
    assert_eq!(available(&mut client, plenty).await, 100);
    assert_eq!(available(&mut client, scarce).await, 1);
    // Nothing was recorded under the id either: a later retry may succeed.
    client.reserve_stock(reserve("order-1", &[(plenty, 5)])).await.unwrap();
    assert_eq!(available(&mut client, plenty).await, 95);
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_and_unknown_products_not_found() {
    let app = spawn_app().await;
    let product = app.add_product(5, 100).await;
    let mut client = client(&app).await;
    let invalid = [
        reserve("", &[(product, 1)]),
        reserve(&"x".repeat(256), &[(product, 1)]),
        reserve("r", &[]),
        reserve("r", &[(product, 0)]),
        reserve("r", &[(product, -3)]),
        reserve("r", &[(product, 10_001)]),
        ReserveStockRequest {
            reservation_id: "r".into(),
            lines: vec![ReservationLine { product_id: "not-a-uuid".into(), quantity: 1 }],
        },
    ];
    for request in invalid {
        let status = client.reserve_stock(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
    }
    let unknown = client.reserve_stock(reserve("r", &[(Uuid::now_v7(), 1)])).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let missing = client.commit_reservation(commit("never", 100)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let unpaid = CommitReservationRequest { reservation_id: "never".into(), paid: None };
    assert_eq!(client.commit_reservation(unpaid).await.unwrap_err().code(), Code::InvalidArgument);
    let bad_get = client.get_product(GetProductRequest { product_id: "42".into() }).await.unwrap_err();
    assert_eq!(bad_get.code(), Code::InvalidArgument);
    let absent = client.get_product(GetProductRequest { product_id: Uuid::now_v7().to_string() }).await.unwrap_err();
    assert_eq!(absent.code(), Code::NotFound);
    assert_eq!(available(&mut client, product).await, 5);
}

#[tokio::test]
async fn batch_get_reports_missing_ids_instead_of_failing() {
    let app = spawn_app().await;
    let a = app.add_product(1, 100).await;
    let b = app.add_product(2, 200).await;
    let missing = Uuid::now_v7().to_string();
    let mut client = client(&app).await;
    let request = BatchGetProductsRequest { product_ids: vec![a.to_string(), missing.clone(), b.to_string()] };
    let response = client.batch_get_products(request).await.unwrap().into_inner();
    assert_eq!(response.products.len(), 2);
    assert_eq!(response.missing_ids, vec![missing]);
    let price = response.products.iter().find(|p| p.product_id == b.to_string()).unwrap().price.clone().unwrap();
    assert_eq!((price.amount_minor, price.currency.as_str()), (200, "EUR"));

    let too_many = BatchGetProductsRequest { product_ids: (0..101).map(|_| Uuid::now_v7().to_string()).collect() };
    assert_eq!(client.batch_get_products(too_many).await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn with_the_broker_down_stock_changes_commit_and_their_events_arrive_once_in_order_after() {
    let port = crate::helpers::free_port();
    let app = spawn_app_with(|s| s.kafka.brokers = format!("127.0.0.1:{port}")).await;
    let product = app.add_product(3, 100).await;
    let mut client = client(&app).await;
    for n in 0..3 {
        client.reserve_stock(reserve(&format!("order-{n}"), &[(product, 1)])).await.unwrap();
    }
    client.release_reservation(ReleaseReservationRequest { reservation_id: "order-0".into() }).await.unwrap();
    assert_eq!(available(&mut client, product).await, 1);

    let broker = crate::kafka::ThrowawayBroker::start(port);
    crate::kafka::create_topics(&broker.address, &[&app.events_topic]).await;
    let messages = read(&broker.address, &app.events_topic, 7, Duration::from_secs(60)).await;
    let envelopes: Vec<Envelope> = messages
        .iter()
        .map(|m| Envelope::decode(m.payload().unwrap()).unwrap())
        .filter(|e| e.aggregate_id == product.to_string())
        .collect();
    let mut ids: Vec<_> = envelopes.iter().map(|e| e.event_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), envelopes.len(), "an event id arrived twice");
    let kinds: Vec<_> = envelopes.iter().map(|e| e.event_type.trim_start_matches("shop.events.v1.")).collect();
    assert_eq!(
        kinds,
        ["StockChanged", "StockChanged", "StockChanged", "ProductOutOfStock", "StockChanged", "ProductBackInStock"],
        "events of one product arrive in the order their changes committed"
    );
}
