//! The identity files, in the layout of a cert-manager Secret mounted as a folder: `tls.crt`
//! (this service's certificate, then any intermediates), `tls.key` (its private key), `ca.crt`
//! (the platform CA every caller's certificate must chain to).
use super::validity;
use crate::metrics::Metrics;
use anyhow::Context;
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig,
};
use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// The files of the folder: this service's certificate chain, its key, the platform CA.
pub(crate) const CERT: &str = "tls.crt";
pub(crate) const KEY: &str = "tls.key";
pub(crate) const CA: &str = "ca.crt";

/// The files' modification times and sizes: a change to any of them is a rotation to load.
pub(crate) type Stamp = Vec<(SystemTime, u64)>;

/// The server side of mutual TLS, as the files in one folder say it now.
pub struct ServerTls {
    dir: PathBuf,
    current: RwLock<Loaded>,
    metrics: Metrics,
}

struct Loaded {
    config: Arc<ServerConfig>,
    /// When this service's certificate stops being valid (None: not readable by `validity`).
    expires_at: Option<SystemTime>,
    /// The files as they were when read.
    stamp: Stamp,
}

impl ServerTls {
    /// Reads the folder; a missing, unreadable or mismatched file stops the start with its path.
    pub fn load(dir: &Path, metrics: Metrics) -> anyhow::Result<Arc<Self>> {
        let loaded = read(dir)?;
        if let Some(at) = loaded.expires_at {
            metrics.tls_certificate_expires_at(at);
        }
        Ok(Arc::new(Self { dir: dir.to_owned(), current: RwLock::new(loaded), metrics }))
    }

    /// For readiness: an error once the certificate served now expires within `margin`, so that
    /// a replica whose renewal did not arrive leaves the rotation with a reason before its
    /// handshakes start failing.
    pub fn check_validity(&self, margin: Duration) -> anyhow::Result<()> {
        let expires_at = match self.current.read() {
            Ok(current) => current.expires_at,
            Err(poisoned) => poisoned.get_ref().expires_at,
        };
        let Some(expires_at) = expires_at else { return Ok(()) };
        let left = expires_at.duration_since(SystemTime::now()).unwrap_or_default();
        anyhow::ensure!(
            left > margin,
            "the workload certificate in {} expires in {} s (the margin is {} s): renew it",
            self.dir.display(),
            left.as_secs(),
            margin.as_secs()
        );
        Ok(())
    }

    /// Handshakes of new connections use the configuration loaded last.
    pub fn acceptor(&self) -> TlsAcceptor {
        match self.current.read() {
            Ok(current) => TlsAcceptor::from(Arc::clone(&current.config)),
            Err(poisoned) => TlsAcceptor::from(Arc::clone(&poisoned.get_ref().config)),
        }
    }

    /// Looks at the files every `every` until `stop` turns true, and loads them again when they
    /// changed. A rotation caught half-written (a key that does not match its certificate) is
    /// refused and the previous identity kept until the next look: connections go on.
    pub async fn watch(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            let Ok(stamp) = stamp(&self.dir) else { continue };
            let unchanged = self.current.read().map(|current| current.stamp == stamp).unwrap_or(false);
            if unchanged {
                continue;
            }
            match read(&self.dir) {
                Ok(loaded) => {
                    if let Some(at) = loaded.expires_at {
                        self.metrics.tls_certificate_expires_at(at);
                    }
                    if let Ok(mut current) = self.current.write() {
                        *current = loaded;
                        tracing::info!(dir = %self.dir.display(), "TLS identity reloaded: new connections use it");
                    }
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "the changed TLS identity files cannot be used; keeping the previous ones"
                ),
            }
        }
    }
}

pub(crate) fn stamp(dir: &Path) -> std::io::Result<Stamp> {
    [CERT, KEY, CA]
        .iter()
        .map(|name| std::fs::metadata(dir.join(name)).and_then(|m| Ok((m.modified()?, m.len()))))
        .collect()
}

fn read(dir: &Path) -> anyhow::Result<Loaded> {
    let stamp = stamp(dir).with_context(|| format!("reading the TLS identity in {}", dir.display()))?;
    let path = dir.join(CERT);
    let chain = CertificateDer::pem_file_iter(&path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate {}", path.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", path.display());
    let expires_at = chain.first().and_then(|leaf| validity::not_after(leaf));
    if expires_at.is_none() {
        tracing::warn!(path = %path.display(), "the certificate's expiry cannot be read: readiness will not watch it");
    }
    let path = dir.join(KEY);
    // The error names the file, never its content.
    let key = PrivateKeyDer::from_pem_file(&path).with_context(|| format!("reading the key {}", path.display()))?;
    let path = dir.join(CA);
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&path).with_context(|| format!("reading the CA {}", path.display()))? {
        roots.add(ca.with_context(|| format!("reading the CA {}", path.display()))?)?;
    }
    anyhow::ensure!(!roots.is_empty(), "{} holds no CA certificate", path.display());

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // A caller without a certificate still completes the handshake, so that the call is
    // refused UNAUTHENTICATED with a reason (and the health service stays reachable by
    // probes); a certificate that is presented must chain to the platform CA and be in date,
    // or the handshake fails.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing the TLS versions")?
        .with_client_cert_verifier(verifier)
        // Refuses a key that does not belong to the certificate (a rotation caught half-written).
        .with_single_cert(chain, key)
        .context("the TLS key does not belong to the certificate, or is not usable")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Loaded { config: Arc::new(config), expires_at, stamp })
}
