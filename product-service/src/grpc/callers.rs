//! Who is calling, from the client certificate the TLS handshake verified against the platform
//! CA (its SAN names the service), and whether that workload may call the method. The shopper's
//! or operator's token a call carries is never enough on its own: stock moves only when the
//! saga's own service asks.
use crate::error::ProductError;
use rustls::pki_types::{CertificateDer, ServerName};

/// The platform's workloads that call product, as their certificates name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The checkout saga: reads products, reserves, commits and releases stock.
    Cart,
    /// The sweeper: asks what became of a paid order's reservation.
    Payment,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Cart => "cart-service",
            Workload::Payment => "payment-service",
        }
    }
}

/// The workload behind `request` when it is one of `allowed`; `method` names the call in the
/// refusal. No certificate: UNAUTHENTICATED. A platform certificate of another workload:
/// PERMISSION_DENIED.
pub fn require<T>(
    request: &tonic::Request<T>,
    method: &'static str,
    allowed: &[Workload],
) -> Result<Workload, ProductError> {
    let certs = request.peer_certs().ok_or(ProductError::NoWorkloadIdentity)?;
    let leaf = certs.first().ok_or(ProductError::NoWorkloadIdentity)?;
    if let Some(found) = allowed.iter().copied().find(|w| names(leaf, w.name())) {
        return Ok(found);
    }
    let caller =
        PLATFORM.iter().find(|name| names(leaf, name)).copied().unwrap_or("a certificate naming no platform service");
    Err(ProductError::WorkloadNotAllowed { caller: caller.to_owned(), method })
}

/// Every workload of the platform, to name the caller in a refusal.
const PLATFORM: [&str; 4] = ["auth-service", "product-service", "cart-service", "payment-service"];

/// Whether the (already verified) certificate is issued to the service `name` (its DNS SAN).
fn names(leaf: &CertificateDer<'_>, name: &str) -> bool {
    let (Ok(cert), Ok(server_name)) = (webpki::EndEntityCert::try_from(leaf), ServerName::try_from(name)) else {
        return false;
    };
    cert.verify_is_valid_for_subject_name(&server_name).is_ok()
}
