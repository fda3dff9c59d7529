//! MariaDB / MySQL access: the connection pool and the embedded migrations.
use crate::configuration::DatabaseSettings;
use anyhow::Context;
use diesel_async::{
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{
        deadpool::{Object, Pool, PoolError},
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
    },
    AsyncMysqlConnection, RunQueryDsl,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracing::Instrument;

/// A connection lent by the pool, returned to it when dropped.
pub type PooledConn = Object<AsyncMysqlConnection>;

/// The connection pool. Every wait for a connection is timed (`db_pool_wait_seconds`, exported
/// with the pool's state by `metrics::pool`): a pool too small for its traffic shows there
/// before requests time out.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<AsyncMysqlConnection>,
    waits: prometheus::Histogram,
}

impl DbPool {
    /// A connection as soon as one is free (or opened), within the database timeout.
    pub async fn get(&self) -> Result<PooledConn, PoolError> {
        let asked = std::time::Instant::now();
        // A span too, so that a request's trace shows its wait beside its queries.
        let conn = self.pool.get().instrument(tracing::info_span!("db.pool_wait")).await;
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

/// The name of the MariaDB lock held while migrating, an SQL expression: one per database.
pub const MIGRATION_LOCK: &str = "CONCAT('payment-service.migrations.', DATABASE())";
/// How long a replica waits for another's migrations before its try fails (and is retried).
const MIGRATION_LOCK_WAIT_SECS: i64 = 600;

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    locked: Option<i64>,
}

/// When a query last failed because its connection was lost (seconds since the epoch; 0: never).
static CONNECTION_LOST_AT: AtomicU64 = AtomicU64::new(0);
/// How long after a lost connection the pool tests every connection it hands out.
const VERIFY_AFTER_LOSS: Duration = Duration::from_secs(30);

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Records that a connection was found dead (the database restarted, a network cut): for a
/// while the pool tests connections before handing them out, so the other dead ones are
/// replaced instead of each failing a request.
fn note_connection_lost() {
    CONNECTION_LOST_AT.store(now_secs(), Ordering::Relaxed);
}

/// Whether a query failed because its connection was lost, noting it if so. The MySQL driver
/// reports that (I/O or protocol trouble, not an answer of the server) as an unknown database
/// error whose text names the driver's error kind.
pub fn connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    let lost = match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            info.message().starts_with("Input/output error") || info.message().starts_with("Driver error")
        }
        _ => false,
    };
    if lost {
        note_connection_lost();
    }
    lost
}

/// `connection_lost` for an error that may wrap a failed query (the relay's `anyhow`).
pub fn note_if_connection_lost(error: &anyhow::Error) {
    if let Some(query) = error.downcast_ref::<diesel::result::Error>() {
        connection_lost(query);
    }
}

fn connections_recently_lost() -> bool {
    // Called as a function: diesel's `RunQueryDsl::load` is in scope here.
    let lost = AtomicU64::load(&CONNECTION_LOST_AT, Ordering::Relaxed);
    lost != 0 && now_secs().saturating_sub(lost) <= VERIFY_AFTER_LOSS.as_secs()
}

/// Builds the pool without connecting: the service starts (and reports not-ready) while the
/// database is down, and connects once it is back.
pub fn build_pool(settings: &DatabaseSettings) -> anyhow::Result<DbPool> {
    // A pooled connection is handed out without a test query (`Verified` costs a round trip per
    // checkout) — except for a while after a query found its connection dead. The MySQL driver
    // cannot tell the pool a connection closed (PostgreSQL's can), so without this every
    // connection opened before a database restart would stay in the pool, failing forever.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::CustomFunction(Box::new(|conn| {
        Box::pin(async move {
            if connections_recently_lost() {
                diesel::sql_query("SELECT 1").execute(conn).await?;
            }
            Ok(())
        })
    }));
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
    if let Err(error) = diesel::sql_query("SELECT 1").execute(&mut conn).await {
        connection_lost(&error);
        return Err(anyhow::Error::new(error).context("SELECT 1 failed"));
    }
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
    let connecting = <AsyncMysqlConnection as diesel_async::AsyncConnection>::establish(settings.url.expose_secret());
    let mut conn = tokio::time::timeout(settings.timeout, connecting)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} ms", settings.timeout.as_millis()))?
        .context("connecting to run migrations")?;
    // Replicas starting together take turns: the first applies the migrations (MariaDB's schema
    // changes are not transactional, so two at once could half-apply one), the others wait here
    // and then find nothing to do. GET_LOCK is server-wide, hence the database in its name; it
    // belongs to this connection and ends with it, also when this process dies mid-way.
    let locked = diesel::sql_query(format!("SELECT CAST(GET_LOCK({MIGRATION_LOCK}, ?) AS SIGNED) AS locked"))
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_WAIT_SECS)
        .get_result::<Locked>(&mut conn)
        .await
        .context("waiting for another replica's migrations")?;
    if locked.locked != Some(1) {
        anyhow::bail!("another replica's migrations held the lock for {MIGRATION_LOCK_WAIT_SECS} s");
    }
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = AsyncConnectionWrapper::<AsyncMysqlConnection>::from(conn);
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

    pub async fn conn(&self) -> Result<PooledConn, crate::error::PaymentError> {
        if !*self.migrated.borrow() {
            return Err(crate::error::PaymentError::Unavailable(anyhow::anyhow!(
                "database migrations not applied yet"
            )));
        }
        Ok(self.pool.get().await?)
    }
}
