//! What `/readyz` checks: this service's own dependencies, concurrently, each bounded in time.
use crate::{db::DbPool, kafka::Kafka};
use serde::Serialize;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Readiness {
    pub pool: DbPool,
    pub kafka: Kafka,
    /// True once the migrations are applied.
    pub migrated: watch::Receiver<bool>,
    pub timeout: Duration,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ready: bool,
    /// Each dependency: "ok" or why it is not.
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    pub async fn report(&self) -> Report {
        let database = async {
            if !*self.migrated.borrow() {
                return Err(anyhow::anyhow!("migrations not applied yet"));
            }
            crate::db::ping(&self.pool).await
        };
        let (database, kafka) = tokio::join!(self.bounded(database), self.bounded(self.kafka.ping()));
        let checks = vec![Check::from_result("database", database), Check::from_result("kafka", kafka)];
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
