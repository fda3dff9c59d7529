//! Which replicas of a service cart may call. HTTP/2 keeps one connection per channel, so a
//! channel to one address (a Kubernetes ClusterIP Service) sends every call to the replica it
//! happened to connect to, and a replica added later gets nothing until cart reconnects.
//! Instead the target is a comma-separated list of `http://host:port`; every `interval` each
//! host is resolved (a headless Service's DNS name returns every ready pod, compose's DNS every
//! scaled container, a local list names each replica's port) and each address is probed with
//! a TCP connect. The balanced channel (power of two choices per call) gets exactly the
//! addresses that accept connections: one that appears serves within an interval, one that
//! dies stops getting calls as soon as a call's failure asks for a new round (`refresh`).
use prometheus::IntGauge;
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};
use tokio::{
    net::{lookup_host, TcpStream},
    sync::{mpsc::Sender, watch, Notify},
    task::JoinSet,
};
use tonic::transport::{channel::Change, Endpoint};

/// How long a probe's TCP connect may take: a replica slower than this to accept is left out
/// until the next round.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a caller waits for the round it asked for before it goes on anyway.
const REFRESH_WAIT: Duration = Duration::from_secs(1);
/// The shortest interval between rounds, whatever is configured.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// One `scheme://host:port` of the target's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    scheme: String,
    host: String,
    port: u16,
}

impl Target {
    /// The list as configured: each entry `http://host:port` or `https://host:port`.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let targets =
            list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(Self::parse).collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err("names no address".to_owned());
        }
        Ok(targets)
    }

    fn parse(url: &str) -> Result<Self, String> {
        let uri: tonic::codegen::http::Uri = url.parse().map_err(|_| format!("{url} is not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some(scheme @ ("http" | "https")) => scheme.to_owned(),
            _ => return Err(format!("{url} is not an http:// or https:// URL")),
        };
        let host = uri.host().ok_or_else(|| format!("{url} names no host"))?;
        let port = uri.port_u16().ok_or_else(|| format!("{url} names no port"))?;
        Ok(Self { scheme, host: host.trim_matches(['[', ']']).to_owned(), port })
    }
}

/// What the rest of cart holds: a way to ask for a new round now.
#[derive(Clone)]
pub struct Discovery {
    wake: Arc<Notify>,
    rounds: watch::Receiver<u64>,
}

impl Discovery {
    /// Starts resolving `targets` every `interval`, feeding the balanced channel through
    /// `changes`. `endpoint` turns an address into the endpoint to call (timeouts, origin);
    /// `in_rotation` is set to the number of replicas served after each round.
    pub fn spawn(
        targets: Vec<Target>,
        interval: Duration,
        changes: Sender<Change<SocketAddr, Endpoint>>,
        endpoint: impl Fn(&str, SocketAddr) -> Option<Endpoint> + Send + 'static,
        in_rotation: IntGauge,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let (round_done, rounds) = watch::channel(0u64);
        let woken = Arc::clone(&wake);
        tokio::spawn(async move {
            let mut serving = BTreeSet::<SocketAddr>::new();
            for round in 1u64.. {
                let reachable = reachable(&targets).await;
                for gone in serving.iter().filter(|a| !reachable.contains_key(*a)) {
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return; // the channel was dropped: cart is shutting down
                    }
                    tracing::info!(%gone, "a replica stopped accepting connections: no more calls to it");
                }
                for (new, scheme) in reachable.iter().filter(|(a, _)| !serving.contains(*a)) {
                    let Some(endpoint) = endpoint(scheme, *new) else { continue };
                    if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                        return;
                    }
                    tracing::info!(%new, "a replica accepts connections: calls are balanced over it too");
                }
                serving = reachable.into_keys().collect();
                in_rotation.set(i64::try_from(serving.len()).unwrap_or(i64::MAX));
                round_done.send_replace(round);
                tokio::select! {
                    _ = tokio::time::sleep(interval.max(MIN_INTERVAL)) => {}
                    _ = woken.notified() => {}
                }
            }
        });
        Self { wake, rounds }
    }

    /// Asks for a round now (a call found a replica gone) and waits, at most a second, until
    /// it is done: a retry then goes to the replicas still there.
    pub async fn refresh(&self) {
        let mut rounds = self.rounds.clone();
        let seen = *rounds.borrow_and_update();
        self.wake.notify_one();
        let _ = tokio::time::timeout(REFRESH_WAIT, rounds.wait_for(|round| *round > seen)).await;
    }
}

/// Every address the targets resolve to that accepts a TCP connection now, with its scheme.
async fn reachable(targets: &[Target]) -> BTreeMap<SocketAddr, &str> {
    let mut resolved = BTreeMap::new();
    for target in targets {
        match lookup_host((target.host.as_str(), target.port)).await {
            Ok(addresses) => resolved.extend(addresses.map(|a| (a, target.scheme.as_str()))),
            // A name with no ready replica (a headless Service scaled to zero) resolves to
            // nothing, or fails; the other targets still count.
            Err(error) => tracing::debug!(host = target.host, %error, "resolving a gRPC target failed"),
        }
    }
    let mut probes = JoinSet::new();
    for &address in resolved.keys() {
        probes.spawn(async move {
            let accepted = tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(address)).await;
            (address, matches!(accepted, Ok(Ok(_))))
        });
    }
    while let Some(probe) = probes.join_next().await {
        if let Ok((address, false)) = probe {
            resolved.remove(&address);
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn a_list_of_urls_is_parsed_and_bad_entries_are_named() {
        let targets = Target::parse_list("http://product-service-grpc:50052, http://[::1]:7").unwrap();
        assert_eq!(targets[0], Target { scheme: "http".into(), host: "product-service-grpc".into(), port: 50052 });
        assert_eq!(targets[1].host, "::1");
        for (bad, says) in
            [("", "no address"), ("ftp://a:1", "not an http"), ("http://a", "no port"), ("x y", "not a URL")]
        {
            let error = Target::parse_list(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[tokio::test]
    async fn replicas_are_added_when_they_listen_and_removed_when_they_stop() {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A port nothing listens on yet: a replica that will start later.
        let later = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let later_address = later.local_addr().unwrap();
        drop(later);
        let list = format!(
            "http://127.0.0.1:{},http://localhost:{}",
            first.local_addr().unwrap().port(),
            later_address.port()
        );
        let (changes, mut received) = tokio::sync::mpsc::channel(16);
        let discovery = Discovery::spawn(
            Target::parse_list(&list).unwrap(),
            Duration::from_secs(3600),
            changes,
            |s, a| Endpoint::from_shared(format!("{s}://{a}")).ok(),
            IntGauge::new("in_rotation", "test").unwrap(),
        );

        let inserted =
            |change| matches!(change, Some(Change::Insert(address, _)) if address == first.local_addr().unwrap());
        assert!(inserted(received.recv().await), "the listening replica is served");
        assert!(received.try_recv().is_err(), "nothing listens on the other port yet");

        let started = TcpListener::bind(later_address).await.unwrap();
        discovery.refresh().await;
        assert!(matches!(received.try_recv(), Ok(Change::Insert(address, _)) if address == later_address));

        drop(started);
        discovery.refresh().await;
        assert!(matches!(received.try_recv(), Ok(Change::Remove(address)) if address == later_address));
        assert!(received.try_recv().is_err(), "the first replica stays");
    }
}
