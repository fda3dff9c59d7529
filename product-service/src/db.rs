//! PostgreSQL access: the connection pool and the embedded migrations.
use crate::configuration::DatabaseSettings;
use anyhow::Context;
use diesel_async::{
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{
        deadpool::{Object, Pool, PoolError},
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
    },
    AsyncPgConnection, RunQueryDsl,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;
use std::time::Duration;

/// The connection pool. Every wait for a connection is timed (`db_pool_wait_seconds`, exported
/// with the pool's state by `metrics::pool`): a pool too small for its traffic shows there
/// before requests time out.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<AsyncPgConnection>,
    waits: prometheus::Histogram,
}

impl DbPool {
    /// A connection as soon as one is free (or opened), within the database timeout.
    pub async fn get(&self) -> Result<Object<AsyncPgConnection>, PoolError> {
        let asked = std::time::Instant::now();
        let conn = self.pool.get().await;
        self.waits.observe(asked.elapsed().as_secs_f64());
        conn
    }

    /// The pool's size, idle connections and waiting requests now.
    pub fn status(&self) -> deadpool::Status {
        self.pool.status()
    }

    /// How long requests waited for a connection.
    pub fn waits(&self) -> &prometheus::Histogram {
        &self.waits
    }
}

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The PostgreSQL advisory lock held while migrating (per database; "SHOP" and a number per
/// service, so services sharing a database would not wait on each other).
pub const MIGRATION_LOCK: i64 = 0x5348_4f50_0002;

/// The outbox relay's lease (`events/relay.rs`), an advisory lock key: "outbox" and a number
/// per service.
pub const RELAY_LEASE: i64 = 0x6f75_7462_6f78_0002;

/// Builds the pool without connecting: the service starts (and reports not-ready) while the
/// database is down, and connects once it is back.
pub fn build_pool(settings: &DatabaseSettings) -> anyhow::Result<DbPool> {
    // Fast recycling: a pooled connection is handed out without a test query (the default
    // `Verified` costs a round trip per checkout, halving the read rate). A connection that
    // broke (database restarted) fails the one request that uses it; the pool then drops it.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    // A connection's driver task runs on the runtime that opens it, and the pool opens one
    // wherever `get()` is awaited: on an actix worker's own runtime for a REST request. Stopping
    // the HTTP server at shutdown drops those runtimes, and with them the connections that gRPC
    // calls still draining were using ("connection closed"). So every connection is opened on
    // the runtime that builds the pool, which outlives both servers.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        config.custom_setup = Box::new(move |url| {
            let (runtime, url) = (runtime.clone(), url.to_owned());
            Box::pin(async move {
                runtime
                    .spawn(async move { <AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url).await })
                    .await
                    .map_err(|error| diesel::ConnectionError::BadConnection(format!("opening a connection: {error}")))?
            })
        });
    }
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(settings.url.expose_secret(), config);
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(settings.timeout))
        .create_timeout(Some(settings.timeout))
        .recycle_timeout(Some(settings.timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")?;
    Ok(DbPool { pool, waits: crate::metrics::pool::wait_histogram().context("the pool's wait histogram")? })
}

/// One round trip through the pool: proves the database answers.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("no database connection")?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await.context("SELECT 1 failed")?;
    Ok(())
}

/// Applies pending migrations on a dedicated connection, off the async runtime (diesel's
/// migration harness is synchronous).
///
/// The connection is opened here, under the database timeout: the driver waits for the server's
/// first answer without a limit of its own, so a listener that accepts and never answers (a wrong
/// port that another program holds) would otherwise hold a blocking thread forever, and with it
/// every retry and the runtime's shutdown.
pub async fn run_migrations(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let connecting = <AsyncPgConnection as diesel_async::AsyncConnection>::establish(settings.url.expose_secret());
    let mut conn = tokio::time::timeout(settings.timeout, connecting)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} ms", settings.timeout.as_millis()))?
        .context("connecting to run migrations")?;
    // Replicas starting together take turns: the first applies the migrations, the others wait
    // here and then find nothing to do. The lock belongs to this connection's session, so it
    // ends with it, also when this process dies mid-way.
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .context("waiting for another replica's migrations")?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
        Ok(())
    })
    .await
    .context("the migration task died")?
}

/// Retries `run_migrations` until it succeeds, with capped exponential backoff; the readiness
/// check reports the database not ready until then.
pub async fn migrate_until_done(settings: DatabaseSettings, done: tokio::sync::watch::Sender<bool>) {
    let mut delay = Duration::from_millis(200);
    loop {
        match run_migrations(&settings).await {
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

/// The pool, closed until the migrations are applied: a request arriving earlier gets 503
/// instead of a failed query against a missing table.
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
    ) -> Result<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>, crate::error::ProductError> {
        if !*self.migrated.borrow() {
            return Err(crate::error::ProductError::Unavailable(anyhow::anyhow!(
                "database migrations not applied yet"
            )));
        }
        Ok(self.pool.get().await?)
    }
}
