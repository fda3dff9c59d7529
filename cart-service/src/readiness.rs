//! What `/readyz` checks: this service's own dependencies (Redis and the broker),
//! concurrently, each bounded in time, and that its workload certificate is not about to expire. The services cart calls are not among them: their
//! outage must not take cart out of the load balancer (browsing carts still works).
use crate::{kafka::Kafka, redis_store::Redis, upstream::Upstream};
use serde::Serialize;
use std::time::Duration;

#[derive(Clone)]
pub struct Readiness {
    pub redis: Redis,
    pub kafka: Kafka,
    pub timeout: Duration,
    /// cart's own certificate, which every checkout presents: `upstream.check_identity` with the
    /// margin before its expiry.
    pub tls: Option<(Upstream, Duration)>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ready: bool,
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
        let (redis, kafka) = tokio::join!(self.bounded(self.redis.ping()), self.bounded(self.kafka.ping()));
        let mut checks = vec![Check::from_result("redis", redis), Check::from_result("kafka", kafka)];
        if let Some((upstream, margin)) = &self.tls {
            checks.push(Check::from_result("tls", upstream.check_identity(*margin)));
        }
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
            // credentials: clients are built from settings, and redis errors omit the URL.
            Err(error) => Self { name, ok: false, error: Some(format!("{error:#}")) },
        }
    }
}
