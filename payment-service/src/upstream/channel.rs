//! A gRPC channel to one service as this service keeps it: connected on its first call (the
//! other service may start later), over mutual TLS with this service's identity when the URL is
//! `https://`, and made again, presenting the new certificate, once that identity was rotated.
use super::tls::ClientIdentity;
use anyhow::Context;
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};
use tonic::transport::{Channel, Endpoint};

/// How often the connection is pinged, idle or busy; an answer may take the call timeout. A
/// server that hangs (stopped, or its node lost) keeps its TCP connection open, and every call
/// would time out on it: the unanswered ping drops the connection, and the next call makes a new
/// one, to a replica that answers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct ServiceChannel {
    endpoint: Endpoint,
    /// The server's workload name: what its certificate must carry.
    server: &'static str,
    /// This service's identity when the URL is `https://`: looked at before each call.
    identity: Option<Arc<ClientIdentity>>,
    channel: Arc<Mutex<Channel>>,
}

impl ServiceChannel {
    /// `server`: the workload name the server's certificate must carry, whatever address `url`
    /// reaches it at; `tls_dir`: this service's identity, read now when `url` is `https://`.
    pub fn connect_lazy(server: &'static str, url: &str, timeout: Duration, tls_dir: &Path) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("{server}'s gRPC URL {url}"))?
            .timeout(timeout)
            .connect_timeout(timeout)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(timeout)
            .keep_alive_while_idle(true);
        let identity = match url.starts_with("https://") {
            true => {
                Some(Arc::new(ClientIdentity::load(tls_dir, server).context("loading this service's TLS identity")?))
            }
            false => None,
        };
        let channel = connect(&endpoint, server, identity.as_deref())?;
        Ok(Self { endpoint, server, identity, channel: Arc::new(Mutex::new(channel)) })
    }

    /// The channel to call on now: a new one, presenting the new certificate, after a rotation.
    pub fn current(&self) -> Channel {
        let renewed = self.identity.as_deref().filter(|identity| identity.renewed());
        let mut channel = self.channel.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(identity) = renewed {
            match connect(&self.endpoint, self.server, Some(identity)) {
                Ok(renewed) => *channel = renewed,
                Err(error) => {
                    tracing::warn!(server = self.server, error = format!("{error:#}"), "keeping the channel as it was")
                }
            }
        }
        channel.clone()
    }
}

fn connect(endpoint: &Endpoint, server: &str, identity: Option<&ClientIdentity>) -> anyhow::Result<Channel> {
    let endpoint = match identity {
        Some(identity) => endpoint
            .clone()
            .tls_config(identity.current())
            .with_context(|| format!("the TLS settings for {server}'s gRPC endpoint"))?,
        None => endpoint.clone(),
    };
    Ok(endpoint.connect_lazy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_https_url_needs_the_identity_and_a_plain_one_does_not() {
        let timeout = Duration::from_secs(1);
        let missing = Path::new("/nonexistent/tls");
        let error = ServiceChannel::connect_lazy("auth-service", "https://127.0.0.1:1", timeout, missing)
            .err()
            .expect("no identity to present");
        assert!(format!("{error:#}").contains("/nonexistent/tls"), "{error:#}");
        assert!(ServiceChannel::connect_lazy("auth-service", "http://127.0.0.1:1", timeout, missing).is_ok());
    }
}
