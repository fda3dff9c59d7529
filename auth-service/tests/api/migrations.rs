use crate::helpers::{count, create_database, spawn_app, start_app_with};
use auth_service::db::MIGRATIONS;
use diesel::Connection;
use diesel_async::{async_connection_wrapper::AsyncConnectionWrapper, AsyncPgConnection};
use diesel_migrations::MigrationHarness;

const OWN_TABLES: &str =
    "SELECT count(*)::bigint AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'";

#[tokio::test]
async fn start_up_applies_the_migrations() {
    let app = spawn_app().await;
    app.wait_until_ready().await;
    let tables = count(
        &app.database_url,
        "SELECT count(*)::bigint AS n FROM information_schema.tables WHERE table_name IN ('outbox', 'processed_events')",
    )
    .await;
    assert_eq!(tables, 2);
}

#[tokio::test]
async fn every_down_migration_undoes_its_up_migration() {
    let url = create_database().await;
    let harness_url = url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&harness_url).unwrap();
        let applied = conn.run_pending_migrations(MIGRATIONS).unwrap().len();
        assert!(applied > 0);
        // Step down one at a time so each down.sql is checked against the schema its up.sql made.
        for _ in 0..applied {
            conn.revert_last_migration(MIGRATIONS).unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(count(&url, OWN_TABLES).await, 0, "tables left after reverting every migration");

    // And the schema can be built again from scratch.
    let again = url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&again).unwrap();
        conn.run_pending_migrations(MIGRATIONS).unwrap();
    })
    .await
    .unwrap();
    assert!(count(&url, OWN_TABLES).await > 0);
}

/// A port held by a program that accepts and never answers (here a listener nobody accepts
/// from: the kernel completes the handshake) must cost one timeout per try, not a blocking thread
/// forever: before the timeout, such a try hung the service's retries and its runtime's shutdown.
#[tokio::test]
async fn a_database_that_accepts_and_never_answers_fails_the_try_within_the_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut settings = auth_service::configuration::Settings::from_vars(Vec::new()).unwrap().database;
    settings.url = secrecy::SecretString::from(format!("postgres://auth:auth@127.0.0.1:{port}/auth"));
    settings.timeout = std::time::Duration::from_millis(300);

    let tried = tokio::time::timeout(std::time::Duration::from_secs(20), auth_service::db::run_migrations(&settings));
    let error = tried.await.expect("the try ends").expect_err("nothing answered");
    assert!(format!("{error:#}").contains("no answer within 300 ms"), "{error:#}");
}

/// Replicas starting together against a new database: while one migrates (here the test holds
/// the lock, as a replica in the middle of its migrations would) the others apply nothing and
/// their gRPC ports refuse connections (a caller probing ports must not put a replica that can
/// only answer UNAVAILABLE in its rotation), and all come up, gRPC included, once it is done.
#[tokio::test]
async fn replicas_starting_together_wait_for_the_one_migrating_and_all_come_up() {
    use auth_service::db::MIGRATION_LOCK;
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let url = create_database().await;
    let mut migrating = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut migrating)
        .await
        .unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let url = url.clone();
        replicas.push(start_app_with(move |s| s.database.url = secrecy::SecretString::from(url)).await.0);
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(count(&url, OWN_TABLES).await, 0, "a replica migrated while another held the lock");
    for replica in &replicas {
        let connected = tokio::net::TcpStream::connect(("127.0.0.1", replica.grpc_port)).await;
        assert!(connected.is_err(), "the gRPC port accepts a connection before the migrations are applied");
    }

    drop(migrating);
    for replica in &replicas {
        replica.wait_until_ready().await;
        // The port listens as soon as the task serving it sees the migrations done.
        let mut tries = 0;
        while tokio::net::TcpStream::connect(("127.0.0.1", replica.grpc_port)).await.is_err() {
            tries += 1;
            assert!(tries < 50, "the gRPC port still refuses connections 5 s after the migrations");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert!(count(&url, OWN_TABLES).await > 0);
}
