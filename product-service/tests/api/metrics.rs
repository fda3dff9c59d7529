//! The metrics the SLOs and alerts read, beyond the request counters (`health.rs`): the outbox's
//! backlog, the expiry's rounds and the database pool.
use crate::helpers::{closed_port, execute, spawn_app_with, TestApp};
use std::time::Duration;

/// The value of the sample `series` (name and labels as exported), if the page has it.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `/metrics` until `series` satisfies `done` (samples are taken every few seconds).
async fn until(app: &TestApp, series: &str, done: impl Fn(f64) -> bool) -> f64 {
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
async fn the_outbox_backlog_is_sampled_while_the_broker_is_away_and_clears_once_rows_are_sent() {
    // No broker: the relay can send nothing, so the rows wait.
    let app = spawn_app_with(|s| {
        s.kafka.brokers = format!("127.0.0.1:{}", closed_port());
        s.reservations.expiry_interval = Duration::from_millis(100);
    })
    .await;
    for _ in 0..2 {
        execute(
            &app.database_url,
            &format!(
                "INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope, created_at) \
                 VALUES ('{}', 'nowhere', 'a', 'shop.events.v1.StockChanged', '\\x00', now() - interval '30 seconds')",
                uuid::Uuid::now_v7()
            ),
        )
        .await;
    }

    assert_eq!(until(&app, "outbox_unsent_events", |v| v == 2.0).await, 2.0);
    let age = until(&app, "outbox_oldest_unsent_age_seconds", |v| v > 0.0).await;
    assert!((30.0..120.0).contains(&age), "the oldest row waited 30 s, not {age}");

    execute(&app.database_url, "UPDATE outbox SET sent_at = now()").await;
    until(&app, "outbox_unsent_events", |v| v == 0.0).await;
    until(&app, "outbox_oldest_unsent_age_seconds", |v| v == 0.0).await;

    // The expiry counts its rounds; nothing failed against a healthy database.
    until(&app, r#"background_task_runs_total{outcome="ok",task="reservation_expiry"}"#, |v| v >= 1.0).await;
    let page = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(sample(&page, r#"background_task_runs_total{outcome="failed",task="reservation_expiry"}"#), Some(0.0));
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

    // Twenty catalogue pages at once share the one connection: they queue for it. Twenty
    // different pages: a page already answered is served from the cache, without the pool.
    let mut requests = tokio::task::JoinSet::new();
    for size in 1..=20 {
        let (client, url) = (app.client.clone(), format!("{}/v1/products?page_size={size}", app.address));
        requests.spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    }
    while let Some(done) = requests.join_next().await {
        assert!(done.unwrap().unwrap().is_success());
    }
    let page = app.get("/metrics").await.text().await.unwrap();
    let asked = sample(&page, "db_pool_wait_seconds_count").unwrap();
    assert!(asked >= asked_before + 20.0, "{asked_before} then {asked}:\n{page}");
    let at_once = sample(&page, r#"db_pool_wait_seconds_bucket{le="0.0001"}"#).unwrap();
    assert!(at_once < asked, "some of them waited for the connection:\n{page}");
}
