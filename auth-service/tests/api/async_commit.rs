//! ADR 28: a login's throttle bookkeeping commits without waiting for its WAL flush, and only
//! it: the setting is the transaction's own, gone when it commits or rolls back, so the pooled
//! connection's next transaction (a session, a revocation) waits for its flush again; and it is
//! refused inside another transaction, whose commit would carry it.
use crate::helpers::create_database;
use auth_service::{error::AuthError, store};
use diesel::{sql_types::Text, QueryableByName};
use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    synchronous_commit: String,
}

async fn synchronous_commit(conn: &mut AsyncPgConnection) -> Result<String, diesel::result::Error> {
    let setting: Setting = diesel::sql_query("SELECT current_setting('synchronous_commit') AS synchronous_commit")
        .get_result(conn)
        .await?;
    Ok(setting.synchronous_commit)
}

#[tokio::test]
async fn an_async_commit_is_the_transactions_own_whether_it_commits_or_rolls_back() {
    let mut conn = AsyncPgConnection::establish(&create_database().await).await.unwrap();
    assert_eq!(synchronous_commit(&mut conn).await.unwrap(), "on");

    let inside = store::transaction_with_async_commit::<_, diesel::result::Error, _>(&mut conn, |conn| {
        synchronous_commit(conn).scope_boxed()
    })
    .await
    .unwrap();
    assert_eq!(inside, "off");
    assert_eq!(synchronous_commit(&mut conn).await.unwrap(), "on", "the setting outlived its commit");

    let refused = store::transaction_with_async_commit::<(), AuthError, _>(&mut conn, |conn| {
        async move {
            assert_eq!(synchronous_commit(conn).await?, "off");
            Err(AuthError::InvalidCredentials)
        }
        .scope_boxed()
    })
    .await;
    assert!(matches!(refused, Err(AuthError::InvalidCredentials)), "{refused:?}");
    assert_eq!(synchronous_commit(&mut conn).await.unwrap(), "on", "the setting outlived its rollback");

    let plain =
        store::transaction::<_, diesel::result::Error, _>(&mut conn, |conn| synchronous_commit(conn).scope_boxed())
            .await
            .unwrap();
    assert_eq!(plain, "on", "a plain transaction must wait for its flush");
}

#[tokio::test]
async fn an_async_commit_inside_another_transaction_is_refused_and_leaves_the_outer_one_synchronous() {
    let mut conn = AsyncPgConnection::establish(&create_database().await).await.unwrap();
    let (nested, outer) = store::transaction::<_, diesel::result::Error, _>(&mut conn, |conn| {
        async move {
            let nested = store::transaction_with_async_commit::<_, diesel::result::Error, _>(conn, |conn| {
                synchronous_commit(conn).scope_boxed()
            })
            .await;
            Ok((nested, synchronous_commit(conn).await?))
        }
        .scope_boxed()
    })
    .await
    .unwrap();
    assert!(matches!(nested, Err(diesel::result::Error::AlreadyInTransaction)), "{nested:?}");
    assert_eq!(outer, "on", "the outer transaction would commit asynchronously");
}
