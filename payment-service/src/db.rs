//! MariaDB / MySQL access: the connection pool and the embedded migrations.
use crate::configuration::DatabaseSettings;
use anyhow::Context;
use diesel_async::{
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{deadpool::Pool, AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod},
    AsyncMysqlConnection, RunQueryDsl,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

pub type DbPool = Pool<AsyncMysqlConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Builds the pool without connecting: the service starts (and reports not-ready) while the
/// database is down, and connects once it is back.
pub fn build_pool(settings: &DatabaseSettings) -> anyhow::Result<DbPool> {
    // Fast recycling: a pooled connection is handed out without a test query (the default
    // `Verified` costs a round trip per checkout, halving the read rate). A connection that
    // broke (database restarted) fails the one request that uses it; the pool then drops it.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    // READ COMMITTED: InnoDB's default REPEATABLE READ takes gap locks on range scans, so the
    // outbox relay's `SELECT ... FOR UPDATE` over unsent rows would block every charge's outbox
    // insert until the relay has published its batch. Nothing here relies on repeatable reads:
    // every read-then-write locks its row or writes conditionally.
    config.custom_setup = Box::new(|url| {
        Box::pin(async move {
            let mut conn = <AsyncMysqlConnection as diesel_async::AsyncConnection>::establish(url).await?;
            diesel::sql_query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                .execute(&mut conn)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncMysqlConnection>::new_with_config(settings.url.expose_secret(), config);
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(settings.timeout))
        .create_timeout(Some(settings.timeout))
        .recycle_timeout(Some(settings.timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// One round trip through the pool: proves the database answers.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("no database connection")?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await.context("SELECT 1 failed")?;
    Ok(())
}

/// Applies pending migrations on a dedicated connection, off the async runtime (diesel's
/// migration harness is synchronous).
pub async fn run_migrations(url: &SecretString) -> anyhow::Result<()> {
    let url = url.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncMysqlConnection>::establish(url.expose_secret())
            .context("connecting to run migrations")?;
        conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
        Ok(())
    })
    .await
    .context("the migration task died")?
}

/// Retries `run_migrations` until it succeeds, with capped exponential backoff; the readiness
/// check reports the database not ready until then.
pub async fn migrate_until_done(url: SecretString, done: tokio::sync::watch::Sender<bool>) {
    let mut delay = Duration::from_millis(200);
    loop {
        match run_migrations(&url).await {
            Ok(()) => {
                tracing::info!("database migrations applied");
                done.send_replace(true);
                return;
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "database migrations not applied yet"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The pool, closed until the migrations are applied: a request arriving earlier gets
/// UNAVAILABLE instead of a failed query against a missing table.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    migrated: tokio::sync::watch::Receiver<bool>,
}

impl Db {
    pub fn new(pool: DbPool, migrated: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { pool, migrated }
    }

    pub async fn conn(
        &self,
    ) -> Result<diesel_async::pooled_connection::deadpool::Object<AsyncMysqlConnection>, crate::error::PaymentError>
    {
        if !*self.migrated.borrow() {
            return Err(crate::error::PaymentError::Unavailable(anyhow::anyhow!(
                "database migrations not applied yet"
            )));
        }
        Ok(self.pool.get().await?)
    }
}
