//! Who is calling, from the client certificate the TLS handshake verified against the platform
//! CA (its SAN names the service), and whether that workload may call the method. Checking a
//! token is introspection: it is for the platform's services, not for whoever holds a token.
use crate::error::AuthError;
use rustls::pki_types::{CertificateDer, ServerName};

/// The platform's workloads that call auth, as their certificates name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Product,
    Cart,
    Payment,
}

/// The workloads that check users' tokens: every service that takes them, each asking
/// `VerifyToken` whether a token's session is still live (auth has no REST introspection).
pub const TOKEN_CHECKERS: [Workload; 3] = [Workload::Product, Workload::Cart, Workload::Payment];

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Product => "product-service",
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
) -> Result<Workload, AuthError> {
    let certs = request.peer_certs().ok_or(AuthError::NoWorkloadIdentity)?;
    let leaf = certs.first().ok_or(AuthError::NoWorkloadIdentity)?;
    if let Some(found) = allowed.iter().copied().find(|w| names(leaf, w.name())) {
        return Ok(found);
    }
    let caller =
        PLATFORM.iter().find(|name| names(leaf, name)).copied().unwrap_or("a certificate naming no platform service");
    Err(AuthError::WorkloadNotAllowed { caller: caller.to_owned(), method })
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
