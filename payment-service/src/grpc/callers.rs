//! Who is calling, from the client certificate the TLS handshake verified against the platform
//! CA (its SAN names the service), and whether that workload may call the method. The shopper's
//! token a call carries names whose money it is; it never stands in for the calling service:
//! money moves only when the saga's own service asks.
use crate::error::PaymentError;
use rustls::pki_types::{CertificateDer, ServerName};

/// The platform's workloads that call payment, as their certificates name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The checkout saga: charges, refunds, and looks payments up.
    Cart,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Cart => "cart-service",
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
) -> Result<Workload, PaymentError> {
    let certs = request.peer_certs().ok_or(PaymentError::NoWorkloadIdentity)?;
    let leaf = certs.first().ok_or(PaymentError::NoWorkloadIdentity)?;
    if let Some(found) = allowed.iter().copied().find(|w| names(leaf, w.name())) {
        return Ok(found);
    }
    let caller =
        PLATFORM.iter().find(|name| names(leaf, name)).copied().unwrap_or("a certificate naming no platform service");
    Err(PaymentError::WorkloadNotAllowed { caller: caller.to_owned(), method })
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
