//! The metrics the SLOs and alerts read, beyond the request counters (`health.rs`): the outbox's
//! backlog, pending payments against the reconciler's window, the background rounds and the
//! database pool. Dead letters are counted in `compensation.rs`.
use crate::helpers::{closed_port, execute, spawn_app_with, TestApp};
use crate::payment_calls::{charge, charge_request, status};
use payment_service::proto::shop::payment::v1::{GetPaymentRequest, PaymentStatus};
use std::time::Duration;

/// The value of the sample `series` (name and labels as exported), if the page has it.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `/metrics` until `series` satisfies `done` (samples are taken every few seconds).
pub async fn until(app: &TestApp, series: &str, done: impl Fn(f64) -> bool) -> f64 {
    let mut page = String::new();
    for _ in 0..150 {
        page = app.get("/metrics").await.text().await.unwrap();
        if let Some(value) = sample(&page, series).filter(|v| done(*v)) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never got there in 15 s:\n{page}");
}

#[tokio::test]
async fn the_outbox_backlog_and_the_oldest_pending_payment_are_sampled() {
    // No broker: the relay can send nothing, so the rows wait. The reconciler's first round runs
    // at start, the next in an hour: the pending charge stays pending.
    let app = spawn_app_with(|s| {
        s.kafka.brokers = format!("127.0.0.1:{}", closed_port());
        s.gateway.reconcile_interval = Duration::from_secs(3600);
        s.gateway.max_pending_age = Duration::from_secs(50);
    })
    .await;
    assert_eq!(until(&app, "payment_max_pending_age_seconds", |v| v > 0.0).await, 50.0);
    until(&app, r#"background_task_runs_total{outcome="ok",task="reconciler"}"#, |v| v >= 1.0).await;

    let order = uuid::Uuid::now_v7().to_string();
    let pending = charge(&app, &app.shopper(), charge_request(&order, &order, 700, "tok_pending")).await.unwrap();
    assert_eq!(status(&pending), PaymentStatus::Pending);
    // The service writes `created_at` in UTC.
    execute(&app.database_url, "UPDATE payments SET created_at = UTC_TIMESTAMP(6) - INTERVAL 100 SECOND").await;
    execute(
        &app.database_url,
        "INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope, created_at) \
         VALUES (UUID(), 'nowhere', 'a', 'shop.events.v1.PaymentSucceeded', X'00', NOW(6) - INTERVAL 30 SECOND)",
    )
    .await;

    let age = until(&app, "payment_oldest_pending_age_seconds", |v| v >= 100.0).await;
    assert!(age < 200.0, "the pending payment was created 100 s ago, not {age}");
    let age = until(&app, "outbox_oldest_unsent_age_seconds", |v| v >= 30.0).await;
    assert!(age < 200.0, "{age}");
    let unsent = until(&app, "outbox_unsent_events", |v| v >= 1.0).await;

    execute(&app.database_url, "UPDATE outbox SET sent_at = NOW(6)").await;
    execute(&app.database_url, "UPDATE payments SET status = 'failed'").await;
    until(&app, "outbox_unsent_events", |v| v == 0.0).await;
    until(&app, "outbox_oldest_unsent_age_seconds", |v| v == 0.0).await;
    until(&app, "payment_oldest_pending_age_seconds", |v| v == 0.0).await;
    assert!(unsent >= 1.0);
    let page = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(sample(&page, r#"background_task_runs_total{outcome="failed",task="reconciler"}"#), Some(0.0));
    assert!(sample(&page, r#"background_task_runs_total{outcome="ok",task="sale_sweeper"}"#).is_some(), "{page}");
}

#[tokio::test]
async fn the_database_pool_reports_its_size_and_how_long_requests_waited() {
    let app = spawn_app_with(|s| s.database.pool_size = 1).await;
    // Readiness pings the database through the pool: a connection is open from then on.
    app.wait_until_ready().await;
    let page = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(sample(&page, "db_pool_max_connections"), Some(1.0), "{page}");
    assert_eq!(sample(&page, "db_pool_waiting_requests"), Some(0.0), "{page}");
    let open = sample(&page, r#"db_pool_connections{state="in_use"}"#).unwrap()
        + sample(&page, r#"db_pool_connections{state="idle"}"#).unwrap();
    assert_eq!(open, 1.0, "{page}");
    let asked_before = sample(&page, "db_pool_wait_seconds_count").unwrap();

    // Twenty look-ups at once share the one connection: they queue for it.
    let shopper = app.shopper();
    let client = app.payments().await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (mut client, token) = (client.clone(), shopper.token.clone());
        let request = GetPaymentRequest { payment_id: uuid::Uuid::now_v7().to_string() };
        requests.spawn(async move { client.get_payment(crate::helpers::authed(request, &token)).await.map(|_| ()) });
    }
    while let Some(done) = requests.join_next().await {
        assert_eq!(done.unwrap().unwrap_err().code(), tonic::Code::NotFound);
    }
    let page = app.get("/metrics").await.text().await.unwrap();
    let asked = sample(&page, "db_pool_wait_seconds_count").unwrap();
    assert!(asked >= asked_before + 20.0, "{asked_before} then {asked}:\n{page}");
    let at_once = sample(&page, r#"db_pool_wait_seconds_bucket{le="0.0001"}"#).unwrap();
    assert!(at_once < asked, "some of them waited for the connection:\n{page}");
}
