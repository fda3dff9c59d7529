//! Which replicas of a service cart may call. HTTP/2 keeps one connection per channel, so a
//! channel to one address (a Kubernetes ClusterIP Service) sends every call to the replica it
//! happened to connect to, and a replica added later gets nothing until cart reconnects.
//! Instead the target is a comma-separated list of `https://host:port`; every `interval` each
//! host is resolved (a headless Service's DNS name returns every ready pod, compose's DNS every
//! scaled container, a local list names each replica's port) and each address is probed with
//! a TCP connect. The balanced channel (power of two choices per call) gets the addresses that
//! accept connections: one that appears serves within an interval, one that refuses stops
//! getting calls as soon as a call's failure asks for a new round (`refresh`).
use prometheus::IntGauge;
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{
    net::{lookup_host, TcpStream},
    sync::{mpsc::Sender, watch, Notify},
    task::JoinSet,
    time::Instant,
};
use tonic::transport::{channel::Change, Endpoint};

/// How long a probe's TCP connect may take. A replica in rotation that does not answer in time
/// stays (a dropped SYN or a busy moment is no proof of death; a refusal is); a new one that
/// does not is left out until a later round.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a caller waits for the round it asked for before it goes on anyway.
const REFRESH_WAIT: Duration = Duration::from_secs(1);
/// The shortest time between the starts of two rounds, however often calls ask for one: a
/// failing upstream must not turn every failed call into a round of DNS queries and probes.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// One `https://host:port` (or, in a local run, `http://host:port`) of the target's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: String,
    port: u16,
    /// `https://`: mutual TLS with cart's workload certificate. `http://`: plain text, which a
    /// production configuration refuses.
    pub tls: bool,
}

impl Target {
    /// The list as configured: each entry `https://host:port` or `http://host:port`.
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
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url} is not an https:// or http:// URL")),
        };
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(format!("{url} has a path; only https://host:port is used"));
        }
        let host = uri.host().ok_or_else(|| format!("{url} names no host"))?;
        let port = uri.port_u16().ok_or_else(|| format!("{url} names no port"))?;
        Ok(Self { host: host.trim_matches(['[', ']']).to_owned(), port, tls })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// `scheme://host:port` as configured: what calls to any of its addresses name as their
    /// `:authority`, so a replica sees the service's name, not its own address.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.scheme(), self.host, self.port)
        } else {
            format!("{}://{}:{}", self.scheme(), self.host, self.port)
        }
    }
}

/// What the rest of cart holds: a way to ask for a new round now.
#[derive(Clone)]
pub struct Discovery {
    wake: Arc<Notify>,
    started: Arc<AtomicU64>,
    rounds: watch::Receiver<u64>,
    serving: Arc<AtomicUsize>,
}

impl Discovery {
    /// Starts resolving `targets` every `interval`, feeding the balanced channel through
    /// `changes`, until the channel is dropped. `endpoint` turns a target's address into the
    /// endpoint to call (timeouts, origin, TLS); when `renewed` says that has changed since the
    /// last round (a rotated client certificate), every replica in rotation gets a new endpoint,
    /// so that its new connections present the new certificate. `in_rotation` is set to the
    /// number of replicas in the channel after each round.
    pub fn spawn(
        targets: Vec<Target>,
        interval: Duration,
        changes: Sender<Change<SocketAddr, Endpoint>>,
        endpoint: impl Fn(&Target, SocketAddr) -> Option<Endpoint> + Send + 'static,
        renewed: impl Fn() -> bool + Send + 'static,
        in_rotation: IntGauge,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let started = Arc::new(AtomicU64::new(0));
        let (round_done, rounds) = watch::channel(0u64);
        let serving_count = Arc::new(AtomicUsize::new(0));
        let (woken, starting, counted) = (Arc::clone(&wake), Arc::clone(&started), Arc::clone(&serving_count));
        tokio::spawn(async move {
            let mut serving = BTreeSet::<SocketAddr>::new();
            let mut last_resolved = vec![Vec::new(); targets.len()];
            let mut not_before = Instant::now();
            for round in 1u64.. {
                tokio::time::sleep_until(not_before).await;
                not_before = Instant::now() + MIN_INTERVAL;
                starting.store(round, Ordering::SeqCst);
                let candidates = resolve(&targets, &mut last_resolved).await;
                let probed = probe(&candidates).await;
                let keep = |address: &SocketAddr| match probed.get(address) {
                    Some(Probe::Accepts) => true,
                    Some(Probe::NoAnswer) => serving.contains(address),
                    Some(Probe::Refuses) | None => false,
                };
                let now: BTreeSet<SocketAddr> = candidates.keys().copied().filter(keep).collect();
                for gone in serving.difference(&now) {
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return; // the channel was dropped: cart is shutting down
                    }
                    tracing::info!(%gone, "a replica refuses connections or left: no more calls to it");
                }
                // An endpoint replaces the one of the same address (the balancer keeps the old
                // connection until the new one is ready).
                let renew = renewed();
                if renew {
                    tracing::info!("the client identity changed: every replica's endpoint is made again");
                }
                let mut inserted = match renew {
                    true => BTreeSet::new(),
                    false => now.intersection(&serving).copied().collect::<BTreeSet<_>>(),
                };
                for new in now.iter().filter(|a| renew || !serving.contains(a)) {
                    let target = candidates.get(new).and_then(|i| targets.get(*i));
                    let Some(endpoint) = target.and_then(|t| endpoint(t, *new)) else {
                        tracing::warn!(%new, "a replica's address cannot be called; left out");
                        continue;
                    };
                    if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                        return;
                    }
                    inserted.insert(*new);
                    if !serving.contains(new) {
                        tracing::info!(%new, "a replica accepts connections: calls are balanced over it too");
                    }
                }
                serving = inserted;
                counted.store(serving.len(), Ordering::SeqCst);
                in_rotation.set(i64::try_from(serving.len()).unwrap_or(i64::MAX));
                round_done.send_replace(round);
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = woken.notified() => {}
                    _ = changes.closed() => return,
                }
            }
        });
        Self { wake, started, rounds, serving: serving_count }
    }

    /// Whether no replica is in the rotation now (none accepted, or no round has ended yet).
    pub fn is_empty(&self) -> bool {
        self.serving.load(Ordering::SeqCst) == 0
    }

    /// Asks for a round that starts after this call (a call found a replica gone) and waits,
    /// at most a second, until it is done: a retry then goes to the replicas still there.
    pub async fn refresh(&self) {
        let mut rounds = self.rounds.clone();
        // A round already under way may have probed before the replica died: wait for the next.
        let wanted = self.started.load(Ordering::SeqCst) + 1;
        self.wake.notify_one();
        let _ = tokio::time::timeout(REFRESH_WAIT, rounds.wait_for(|done| *done >= wanted)).await;
    }
}

/// Every address the targets resolve to, with the index of its target. A name that fails to
/// resolve (a DNS server's bad moment) keeps its last answer rather than emptying the rotation;
/// one that resolves to nothing (a headless Service with no ready pod) has no address.
async fn resolve(targets: &[Target], last_resolved: &mut [Vec<SocketAddr>]) -> BTreeMap<SocketAddr, usize> {
    let mut resolved = BTreeMap::new();
    for (index, (target, last)) in targets.iter().zip(last_resolved.iter_mut()).enumerate() {
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup_host((target.host.as_str(), target.port))).await {
            Ok(Ok(addresses)) => *last = addresses.collect(),
            Ok(Err(error)) => {
                tracing::warn!(host = target.host, %error, "resolving a gRPC target failed; keeping its last addresses")
            }
            Err(_) => {
                tracing::warn!(host = target.host, "resolving a gRPC target timed out; keeping its last addresses")
            }
        }
        resolved.extend(last.iter().map(|address| (*address, index)));
    }
    resolved
}

/// How long one name's resolution may take before its last answer is used.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Accepts,
    /// Refused, unreachable: nothing serves there.
    Refuses,
    /// No answer within the probe's timeout.
    NoAnswer,
}

/// Connects to each address at once, within `PROBE_TIMEOUT`.
async fn probe(addresses: &BTreeMap<SocketAddr, usize>) -> BTreeMap<SocketAddr, Probe> {
    let mut probes = JoinSet::new();
    for &address in addresses.keys() {
        probes.spawn(async move {
            let outcome = match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(_)) => Probe::Accepts,
                Ok(Err(_)) => Probe::Refuses,
                Err(_) => Probe::NoAnswer,
            };
            (address, outcome)
        });
    }
    let mut outcomes = BTreeMap::new();
    while let Some(probe) = probes.join_next().await {
        if let Ok((address, outcome)) = probe {
            outcomes.insert(address, outcome);
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn a_list_of_urls_is_parsed_and_bad_entries_are_named() {
        let targets = Target::parse_list("https://product-service-grpc:50052, http://[::1]:7").unwrap();
        assert_eq!(targets[0], Target { host: "product-service-grpc".into(), port: 50052, tls: true });
        assert_eq!(targets[0].origin(), "https://product-service-grpc:50052");
        assert!(!targets[1].tls);
        assert_eq!(targets[1].host, "::1");
        assert_eq!(targets[1].origin(), "http://[::1]:7");
        for (bad, says) in [
            ("", "no address"),
            ("ftp://a:1", "not an https:// or http://"),
            ("http://a", "no port"),
            ("http://a:1/v1", "has a path"),
            ("x y", "not a URL"),
        ] {
            let error = Target::parse_list(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[tokio::test]
    async fn a_name_that_fails_to_resolve_keeps_its_last_addresses() {
        let targets = Target::parse_list("http://no-such-name.invalid:50052,http://127.0.0.1:50052").unwrap();
        let kept: SocketAddr = "10.1.2.3:50052".parse().unwrap();
        let mut last = vec![vec![kept], Vec::new()];
        let resolved = resolve(&targets, &mut last).await;
        let loopback: SocketAddr = "127.0.0.1:50052".parse().unwrap();
        assert_eq!(resolved, BTreeMap::from([(kept, 0), (loopback, 1)]));
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
            |_, a| Endpoint::from_shared(format!("http://{a}")).ok(),
            || false,
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

    #[tokio::test]
    async fn a_renewed_identity_gives_every_replica_in_rotation_a_new_endpoint() {
        let replica = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = replica.local_addr().unwrap();
        let renew = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&renew);
        let (changes, mut received) = tokio::sync::mpsc::channel(16);
        let discovery = Discovery::spawn(
            Target::parse_list(&format!("http://{address}")).unwrap(),
            Duration::from_secs(3600),
            changes,
            |_, a| Endpoint::from_shared(format!("http://{a}")).ok(),
            move || flag.swap(false, Ordering::SeqCst),
            IntGauge::new("in_rotation", "test").unwrap(),
        );
        assert!(matches!(received.recv().await, Some(Change::Insert(a, _)) if a == address));
        discovery.refresh().await;
        assert!(received.try_recv().is_err(), "nothing changed: nothing is sent");

        renew.store(true, Ordering::SeqCst);
        discovery.refresh().await;
        assert!(matches!(received.try_recv(), Ok(Change::Insert(a, _)) if a == address), "made again");
        assert!(received.try_recv().is_err(), "and not removed");
        assert!(!discovery.is_empty());
    }
}
