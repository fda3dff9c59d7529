//! Redis access: one multiplexed connection manager shared by every request. It is created
//! on first use rather than at start-up, so the service starts (and reports not-ready) while
//! Redis is down; once created it reconnects by itself.
use crate::configuration::RedisSettings;
use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use std::{sync::Arc, time::Duration};
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: Arc<OnceCell<ConnectionManager>>,
    timeout: Duration,
}

impl Redis {
    pub fn new(settings: &RedisSettings) -> anyhow::Result<Self> {
        // The URL was validated by the configuration; the error text never repeats it.
        let client = redis::Client::open(settings.url.expose_secret()).context("CART_REDIS_URL is not a Redis URL")?;
        Ok(Self { client, manager: Arc::new(OnceCell::new()), timeout: settings.timeout })
    }

    /// A handle on the shared connection (cheap to clone).
    pub async fn connection(&self) -> anyhow::Result<ConnectionManager> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout)
                    // Fail fast: the caller answers 503 and the next request tries again.
                    .set_number_of_retries(0);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .context("Redis unreachable")?;
        Ok(manager.clone())
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await.context("PING failed")?;
        Ok(())
    }
}
