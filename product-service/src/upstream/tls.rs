//! The client side of mutual TLS: this service presents its workload certificate on the calls
//! it makes, and checks the server's. The files are looked at again before each use, so a rotated
//! certificate is presented on the connections made after it, without a restart.
use crate::tls::files::{stamp, Stamp, CA, CERT, KEY};
use anyhow::Context;
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    sign::CertifiedKey,
    RootCertStore,
};
use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// This service's identity towards one server, as the files in its folder say it now.
pub struct ClientIdentity {
    dir: PathBuf,
    server: &'static str,
    current: Mutex<(Stamp, ClientTlsConfig)>,
}

impl ClientIdentity {
    /// Reads the folder; a missing or unreadable file fails with its path. `server`: the name
    /// the server's certificate must carry (its SAN), whatever address it is reached at.
    pub fn load(dir: &Path, server: &'static str) -> anyhow::Result<Self> {
        let current = read(dir, server)?;
        Ok(Self { dir: dir.to_owned(), server, current: Mutex::new(current) })
    }

    /// The TLS settings to make a connection with now.
    pub fn current(&self) -> ClientTlsConfig {
        match self.current.lock() {
            Ok(current) => current.1.clone(),
            Err(poisoned) => poisoned.get_ref().1.clone(),
        }
    }

    /// Whether the files changed since they were read last and now hold a usable identity (then
    /// `current` returns it). Files caught half-written are left for the next look.
    pub fn renewed(&self) -> bool {
        let Ok(stamp) = stamp(&self.dir) else { return false };
        let Ok(mut current) = self.current.lock() else { return false };
        if current.0 == stamp {
            return false;
        }
        match read(&self.dir, self.server) {
            Ok(renewed) => {
                *current = renewed;
                tracing::info!(dir = %self.dir.display(), "client TLS identity reloaded: new connections present it");
                true
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "the changed client TLS files cannot be used yet");
                false
            }
        }
    }
}

fn read(dir: &Path, server: &str) -> anyhow::Result<(Stamp, ClientTlsConfig)> {
    let stamp = stamp(dir).with_context(|| format!("reading the TLS identity in {}", dir.display()))?;
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let (cert, key, ca) = (read(CERT)?, read(KEY)?, read(CA)?);
    // A key that does not belong to the certificate (a rotation caught half-written) would fail
    // every handshake: refuse the pair here instead.
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the certificate {}", dir.join(CERT).display()))?;
    let private_key =
        PrivateKeyDer::from_pem_slice(&key).with_context(|| format!("reading the key {}", dir.join(KEY).display()))?;
    CertifiedKey::from_der(chain, private_key, &rustls::crypto::ring::default_provider())
        .context("the TLS key does not belong to the certificate, or is not usable")?;
    // An empty or unreadable CA file would make every new connection fail its handshake.
    let mut roots = RootCertStore::empty();
    for authority in CertificateDer::pem_slice_iter(&ca) {
        roots
            .add(authority.with_context(|| format!("reading the CA {}", dir.join(CA).display()))?)
            .with_context(|| format!("reading the CA {}", dir.join(CA).display()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{} holds no CA certificate", dir.join(CA).display());
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert, key))
        .domain_name(server);
    Ok((stamp, config))
}
