//! A reservation's statements are prepared once per connection, not parsed again on every
//! checkout (issue 18): PostgreSQL lists a session's kept statements in
//! `pg_prepared_statements`; the statements diesel prepares for one call are unnamed and never
//! listed.
use crate::helpers::spawn_app;
use diesel::{sql_types::Text, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use product_service::{
    domain::ReservationState,
    store::{products, reservations},
};

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

/// The stock statements of a checkout and of its sale or release, on a product and a reservation
/// that do not exist: each statement runs and finds no row.
async fn stock_statements(conn: &mut AsyncPgConnection) {
    let product = uuid::Uuid::now_v7();
    assert!(products::reserve(conn, product, 1).await.unwrap().is_none());
    assert!(products::unreserve(conn, product, 1).await.is_err(), "no such product to give units back to");
    assert!(products::sell(conn, product, 1).await.is_err(), "no such product to sell");
    assert!(products::set_on_hand(conn, product, 5).await.is_err(), "no such product to count");
    reservations::set_state(conn, "no-such-reservation", ReservationState::Committed).await.unwrap();
}

#[tokio::test]
async fn a_checkouts_stock_statements_are_prepared_on_the_first_checkout_only() {
    let app = spawn_app().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    stock_statements(&mut conn).await;
    let after_one = kept(&mut conn).await;
    for statement in ["reserved = reserved + $2", "reserved = reserved - $2", "on_hand = on_hand - $2", "on_hand = $2"]
    {
        assert!(after_one.iter().any(|s| s.contains(statement)), "no kept statement with {statement}: {after_one:#?}");
    }
    assert!(after_one.iter().any(|s| s.starts_with("UPDATE \"reservations\"")), "{after_one:#?}");
    stock_statements(&mut conn).await;
    assert_eq!(kept(&mut conn).await, after_one, "a second checkout prepared statements again");
}

#[tokio::test]
async fn the_relays_mark_of_sent_rows_is_one_kept_statement_whatever_their_number() {
    let app = spawn_app().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    product_service::store::outbox::mark_sent(&mut conn, &[1, 2, 3]).await.unwrap();
    let after_one = kept(&mut conn).await;
    assert!(after_one.iter().any(|s| s.starts_with("UPDATE \"outbox\"")), "{after_one:#?}");
    product_service::store::outbox::mark_sent(&mut conn, &[4]).await.unwrap();
    assert_eq!(kept(&mut conn).await, after_one, "another number of rows prepared the statement again");
}
