//! Two replicas' reservation-expiry tasks on one database (the chart runs two or more): each
//! claims its own due reservations (`FOR UPDATE SKIP LOCKED`), so every reservation expires
//! exactly once, its stock comes back once, and none is left behind.
use crate::helpers::spawn_app_with;
use product_service::{
    cache::{Committed, ProductCache},
    configuration::Settings,
    db::{self, Db},
    proto::shop::product::v1::{
        product_service_client::ProductServiceClient, GetProductRequest, ReservationLine, ReserveStockRequest,
    },
    reservations::Reservations,
};
use secrecy::SecretString;
use std::{sync::Arc, time::Duration};

const RESERVATIONS: usize = 120;
const ON_HAND: i64 = 1_000;
/// Small claims: many rounds, so the two replicas overlap often.
const BATCH: i64 = 4;

/// One replica's expiry: its own pool, as another process would have.
fn replica(database_url: &str, events_topic: &str) -> Reservations {
    let mut settings = Settings::from_vars(Vec::new()).unwrap();
    settings.database.url = SecretString::from(database_url.to_owned());
    let (_, migrated) = tokio::sync::watch::channel(true);
    let committed =
        Committed { cache: Arc::new(ProductCache::default()), outbox_ready: Arc::new(tokio::sync::Notify::new()) };
    Reservations::new(
        Db::new(db::build_pool(&settings.database).unwrap(), migrated),
        Duration::from_secs(60),
        events_topic.to_owned(),
        committed,
    )
}

/// Expires due reservations until a round finds none; how many this replica expired.
async fn expire_all(replica: Reservations) -> usize {
    let mut expired = 0;
    loop {
        match replica.expire_due(BATCH).await.unwrap() {
            0 => return expired,
            n => expired += n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_expire_every_due_reservation_exactly_once() {
    let app = spawn_app_with(|s| {
        s.reservations.ttl = Duration::from_millis(300);
        // The app's own expiry task runs at start only: the two replicas below do the work.
        s.reservations.expiry_interval = Duration::from_secs(3600);
    })
    .await;
    let products = [app.add_product(ON_HAND, 100).await, app.add_product(ON_HAND, 100).await];
    let mut client = ProductServiceClient::new(app.grpc_channel().await);
    for n in 0..RESERVATIONS {
        let line = ReservationLine { product_id: products[n % 2].to_string(), quantity: 1 };
        let request = ReserveStockRequest { reservation_id: uuid::Uuid::now_v7().to_string(), lines: vec![line] };
        client.reserve_stock(request).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;

    let (a, b) = (replica(&app.database_url, &app.events_topic), replica(&app.database_url, &app.events_topic));
    let (a, b) = (tokio::spawn(expire_all(a)), tokio::spawn(expire_all(b)));
    let (by_a, by_b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(by_a + by_b, RESERVATIONS, "expired by each replica: {by_a} + {by_b}");

    for product in products {
        let request = GetProductRequest { product_id: product.to_string() };
        let available = client.get_product(request).await.unwrap().into_inner().product.unwrap().available;
        assert_eq!(available, ON_HAND, "every unit came back once");
    }
    let sql = "SELECT count(*)::bigint AS n FROM reservations WHERE state <> 'expired'";
    assert_eq!(crate::helpers::count(&app.database_url, sql).await, 0, "a reservation was left behind");
}
