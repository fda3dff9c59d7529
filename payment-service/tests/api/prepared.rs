//! A charge's statements are prepared once per connection, not on every call (issue 18):
//! MariaDB counts each `COM_STMT_PREPARE` in the session's `Com_stmt_prepare`.
use crate::helpers::{count, spawn_app};
use diesel::{sql_types::Text, QueryableByName};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use payment_service::{
    domain::PaymentStatus,
    store::{idempotency, payments, payments::NewPayment},
};

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// Statements this session has prepared, counting the one that asks.
async fn prepared(conn: &mut AsyncMysqlConnection) -> u64 {
    let status: Status =
        diesel::sql_query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'").get_result(conn).await.unwrap();
    status.value.parse().unwrap()
}

/// The pending payment of one charge, the settlement and the key's completion, in a charge's
/// order. Even `n`: a declined charge with a token, so the kept statements also take a value
/// where an odd `n` binds NULL.
async fn charge_statements(conn: &mut AsyncMysqlConnection, n: u32) {
    let now = chrono::Utc::now().naive_utc();
    let (id, order) = (uuid::Uuid::now_v7().to_string(), format!("order-{n}"));
    let user = uuid::Uuid::now_v7().to_string();
    let payment = NewPayment {
        id: &id,
        user_id: &user,
        order_id: &order,
        amount_minor: 1999,
        currency: "EUR",
        status: PaymentStatus::Pending.as_str(),
        gateway: "sandbox",
        payment_token: (n % 2 == 0).then_some("tok_visa"),
        order_lines: "[]".to_owned(),
        next_attempt_at: None,
        created_at: now,
        updated_at: now,
    };
    payments::insert(conn, payment).await.unwrap();
    let settled = if n % 2 == 0 {
        payments::settle(conn, &id, PaymentStatus::Failed, None, Some(("card_declined", "declined")), now).await
    } else {
        payments::settle(conn, &id, PaymentStatus::Succeeded, Some("ch_1"), None, now).await
    };
    assert!(settled.unwrap());
    idempotency::complete(conn, &user, "key").await.unwrap();
    idempotency::purge_expired(conn, 10).await.unwrap();
}

#[tokio::test]
async fn a_charges_statements_are_prepared_on_the_first_charge_only() {
    let app = spawn_app().await;
    let mut conn = AsyncMysqlConnection::establish(&app.database_url).await.unwrap();
    charge_statements(&mut conn, 1).await;
    let before = prepared(&mut conn).await;
    charge_statements(&mut conn, 2).await;
    charge_statements(&mut conn, 3).await;
    // Only the status question itself was prepared again (diesel prepares `sql_query` anew).
    assert_eq!(prepared(&mut conn).await - before, 1, "statements prepared again by a later charge");
    // The kept statements bound each call's own values, NULL or not.
    let succeeded = "SELECT CAST(count(*) AS SIGNED) AS n FROM payments WHERE status = 'succeeded' \
                     AND gateway_reference = 'ch_1' AND failure_code IS NULL AND payment_token IS NULL";
    assert_eq!(count(&app.database_url, succeeded).await, 2);
    let declined = "SELECT CAST(count(*) AS SIGNED) AS n FROM payments WHERE status = 'failed' \
                    AND gateway_reference IS NULL AND failure_code = 'card_declined' AND payment_token IS NULL";
    assert_eq!(count(&app.database_url, declined).await, 1);
}
