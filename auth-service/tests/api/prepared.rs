//! A login's statements are prepared once per connection, not parsed again on every login
//! (issue 18): PostgreSQL lists a session's kept statements in `pg_prepared_statements`; the
//! statements diesel prepares for one call are unnamed and never listed.
use crate::helpers::{spawn_app, unique_email};
use auth_service::{
    configuration::Settings,
    domain::Email,
    store::{sessions, throttle, users},
};
use diesel::{sql_types::Text, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Kept {
    #[diesel(sql_type = Text)]
    statement: String,
}

async fn kept(conn: &mut AsyncPgConnection) -> Vec<String> {
    let kept: Vec<Kept> =
        diesel::sql_query("SELECT statement FROM pg_prepared_statements ORDER BY statement").load(conn).await.unwrap();
    kept.into_iter().map(|k| k.statement).collect()
}

/// A right password's statements, as `accounts::login` makes them.
async fn login_statements(conn: &mut AsyncPgConnection, settings: &Settings, email: &Email, user_id: uuid::Uuid) {
    let keys = throttle::login_keys(&email.key(), Some("192.0.2.7".parse().unwrap()), &settings.login);
    throttle::take(conn, &keys, &settings.login).await.unwrap();
    let found = users::login_lookup(conn, &email.key()).await.unwrap();
    assert_eq!(found.user_id, Some(user_id));
    throttle::forgive(conn, &keys).await.unwrap();
    let expires = chrono::Utc::now() + chrono::Duration::days(1);
    sessions::open(conn, uuid::Uuid::now_v7(), user_id, &rand_hash(), expires).await.unwrap();
}

fn rand_hash() -> Vec<u8> {
    uuid::Uuid::now_v7().as_bytes().to_vec()
}

#[tokio::test]
async fn a_logins_statements_are_prepared_on_the_first_login_only() {
    let app = spawn_app().await;
    let settings = Settings::from_vars(Vec::new()).unwrap();
    let mut conn = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    let email = Email::parse(&unique_email()).unwrap();
    let user_id = uuid::Uuid::now_v7();
    users::insert(&mut conn, user_id, &email, "not-a-hash", &["customer"]).await.unwrap();

    login_statements(&mut conn, &settings, &email, user_id).await;
    let after_one = kept(&mut conn).await;
    for statement in ["login_throttle", "LEFT JOIN users", "token_families"] {
        assert!(after_one.iter().any(|s| s.contains(statement)), "no kept statement on {statement}: {after_one:#?}");
    }
    login_statements(&mut conn, &settings, &email, user_id).await;
    assert_eq!(kept(&mut conn).await, after_one, "a second login prepared statements again");
}

#[tokio::test]
async fn the_relays_mark_of_sent_rows_is_one_kept_statement_whatever_their_number() {
    let app = spawn_app().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    auth_service::store::outbox::mark_sent(&mut conn, &[1, 2, 3]).await.unwrap();
    let after_one = kept(&mut conn).await;
    assert!(after_one.iter().any(|s| s.starts_with("UPDATE \"outbox\"")), "{after_one:#?}");
    auth_service::store::outbox::mark_sent(&mut conn, &[4]).await.unwrap();
    assert_eq!(kept(&mut conn).await, after_one, "another number of rows prepared the statement again");
}
