//! The metrics the SLOs and alerts read, beyond the request counters (`health.rs`): the outbox's
//! backlog and the database pool. The consumer's lag and dead letters are in `events.rs`.
use crate::helpers::{closed_port, spawn_app_with, TestApp};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::Duration;

/// The value of the sample `series` (name and labels as exported), if the page has it.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `/metrics` until `series` satisfies `done` within `within`.
pub async fn until(app: &TestApp, series: &str, within: Duration, done: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let page = app.get("/metrics").await.text().await.unwrap();
        if let Some(value) = sample(&page, series).filter(|v| done(*v)) {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{series} never got there in {within:?}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn execute(database_url: &str, sql: &str) {
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query(sql).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn the_outbox_backlog_is_sampled_while_the_broker_is_away_and_clears_once_rows_are_sent() {
    // No broker: the relay can send nothing, so the rows wait.
    let app = spawn_app_with(|s| s.kafka.brokers = format!("127.0.0.1:{}", closed_port())).await;
    let within = Duration::from_secs(15);
    for _ in 0..2 {
        let sql = format!(
            "INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope, created_at) \
             VALUES ('{}', 'nowhere', 'a', 'shop.events.v1.UserRegistered', '\\x00', now() - interval '30 seconds')",
            uuid::Uuid::now_v7()
        );
        execute(&app.database_url, &sql).await;
    }

    until(&app, "outbox_unsent_events", within, |v| v == 2.0).await;
    let age = until(&app, "outbox_oldest_unsent_age_seconds", within, |v| v > 0.0).await;
    assert!((30.0..120.0).contains(&age), "the oldest row waited 30 s, not {age}");

    execute(&app.database_url, "UPDATE outbox SET sent_at = now()").await;
    until(&app, "outbox_unsent_events", within, |v| v == 0.0).await;
    until(&app, "outbox_oldest_unsent_age_seconds", within, |v| v == 0.0).await;
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

    // Twenty logins at once count their attempt through the one connection: they queue for it.
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (client, url) = (app.client.clone(), format!("{}/v1/auth/login", app.address));
        let body = serde_json::json!({ "email": format!("nobody{n}@example.com"), "password": "not the password" });
        requests.spawn(async move { client.post(url).json(&body).send().await.map(|r| r.status().as_u16()) });
    }
    while let Some(done) = requests.join_next().await {
        assert!([401, 429].contains(&done.unwrap().unwrap()));
    }
    let page = app.get("/metrics").await.text().await.unwrap();
    let asked = sample(&page, "db_pool_wait_seconds_count").unwrap();
    assert!(asked >= asked_before + 20.0, "{asked_before} then {asked}:\n{page}");
    let at_once = sample(&page, r#"db_pool_wait_seconds_bucket{le="0.0001"}"#).unwrap();
    assert!(at_once < asked, "some of them waited for the connection:\n{page}");
}
