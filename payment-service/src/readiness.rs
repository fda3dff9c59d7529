//! What `/readyz` checks: this service's own dependencies, concurrently, each bounded in time.
use crate::{db::DbPool, kafka::Kafka};
use serde::Serialize;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{watch, Mutex};

/// How long a readiness report is reused: a storm of probes (many replicas' kubelets, a load
/// balancer, a benchmark) then costs the database and the broker one check a second.
const REPORT_TTL: Duration = Duration::from_secs(1);

/// A check that answers at once from what the process holds.
pub type LocalCheck = Arc<dyn Fn() -> anyhow::Result<()> + Send + Sync>;

#[derive(Clone)]
pub struct Readiness {
    pool: DbPool,
    kafka: Kafka,
    /// True once the migrations are applied.
    migrated: watch::Receiver<bool>,
    timeout: Duration,
    /// Checks of this replica's own state, free to run (no I/O): its certificate's validity.
    local: Vec<(&'static str, LocalCheck)>,
    /// The last report and when it was made. The async lock also makes concurrent probes
    /// share one check instead of each starting its own.
    last: Arc<Mutex<Option<(Instant, Report)>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ready: bool,
    /// Each dependency: "ok" or why it is not.
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    pub fn new(pool: DbPool, kafka: Kafka, migrated: watch::Receiver<bool>, timeout: Duration) -> Self {
        Self { pool, kafka, migrated, timeout, local: Vec::new(), last: Arc::new(Mutex::new(None)) }
    }

    /// Adds a check of the replica's own state to every report, under `name`.
    pub fn with_local_check(mut self, name: &'static str, check: LocalCheck) -> Self {
        self.local.push((name, check));
        self
    }

    /// The current report, at most `REPORT_TTL` old.
    pub async fn report(&self) -> Report {
        let mut last = self.last.lock().await;
        if let Some((made, report)) = last.as_ref() {
            if made.elapsed() < REPORT_TTL {
                return report.clone();
            }
        }
        let report = self.check().await;
        // Pending migrations are a local fact, free to re-check: only store reports that
        // asked the dependencies, so readiness turns green the moment the schema exists.
        *last = if *self.migrated.borrow() { Some((Instant::now(), report.clone())) } else { None };
        report
    }

    async fn check(&self) -> Report {
        let database = async {
            if !*self.migrated.borrow() {
                return Err(anyhow::anyhow!("migrations not applied yet"));
            }
            crate::db::ping(&self.pool).await
        };
        let (database, kafka) = tokio::join!(self.bounded(database), self.bounded(self.kafka.ping()));
        let mut checks = vec![Check::from_result("database", database), Check::from_result("kafka", kafka)];
        checks.extend(self.local.iter().map(|(name, check)| Check::from_result(name, check())));
        Report { ready: checks.iter().all(|c| c.ok), checks }
    }

    async fn bounded(&self, check: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
        tokio::time::timeout(self.timeout, check)
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {} ms", self.timeout.as_millis())))
    }
}

impl Check {
    fn from_result(name: &'static str, result: anyhow::Result<()>) -> Self {
        match result {
            Ok(()) => Self { name, ok: true, error: None },
            // The cause chain names hosts and errors (connection refused, timeout), never
            // credentials: the pool and the Kafka client are built from settings, not URLs.
            Err(error) => Self { name, ok: false, error: Some(format!("{error:#}")) },
        }
    }
}
