//! The client side of mutual TLS: payment presents its workload certificate on its calls to
//! product (the sweeper), and checks product's.
use anyhow::Context;
use std::path::Path;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Trusts the platform CA, presents this service's certificate, and accepts only a server whose
/// certificate names `server` (its SAN), whatever address it was reached at.
pub fn client_tls(dir: &Path, server: &str) -> anyhow::Result<ClientTlsConfig> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.crt")?))
        .identity(Identity::from_pem(read("tls.crt")?, read("tls.key")?))
        .domain_name(server))
}
