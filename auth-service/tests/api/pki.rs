//! The tests' own platform CA and workload certificates, written once per test process to a
//! temporary folder in the layout the service reads (`tls.crt`, `tls.key`, `ca.crt`), and gRPC
//! channels that present one of them.
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::{
    path::{Path, PathBuf},
    sync::LazyLock,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The service under test: the name its certificate carries and clients check.
const SERVER: &str = "auth-service";

/// The platform's workloads, each with a certificate from the test CA.
const WORKLOADS: [&str; 4] = ["auth-service", "product-service", "cart-service", "payment-service"];

/// Where the certificates are: `<root>/<workload>/`, and two impostors of cart.
pub struct TestPki {
    root: PathBuf,
}

/// A client's identity for a call.
#[derive(Clone, Copy, Debug)]
pub enum Caller {
    /// A platform workload's certificate from the test CA.
    Workload(&'static str),
    /// TLS without a client certificate.
    Anonymous,
    /// cart's name on a certificate from a CA the platform does not trust.
    OtherCa,
    /// cart's certificate from the test CA, expired since 2021.
    Expired,
}

pub static PKI: LazyLock<TestPki> = LazyLock::new(TestPki::create);

impl TestPki {
    fn create() -> Self {
        let root = std::env::temp_dir().join(format!("{SERVER}-test-pki-{}", uuid::Uuid::now_v7().simple()));
        let ca = certificate_authority("shop test CA");
        for name in WORKLOADS {
            issue(&root.join(name), &ca, name, Validity::Long);
        }
        issue(&root.join("expired"), &ca, "cart-service", Validity::Expired);
        issue(&root.join("expiring"), &ca, SERVER, Validity::OneMoreDay);
        let other = certificate_authority("someone else's CA");
        for name in WORKLOADS {
            issue(&root.join("other-ca").join(name), &other, name, Validity::Long);
        }
        Self { root }
    }

    /// The folder the service of that name reads (its `TLS_DIR`).
    pub fn dir(&self, workload: &str) -> PathBuf {
        self.root.join(workload)
    }

    /// The folder of a certificate of the service under test that expires in a day.
    pub fn expiring(&self) -> PathBuf {
        self.root.join("expiring")
    }

    /// The folder of a workload's certificate from another CA (with that CA as `ca.crt`).
    pub fn other_ca(&self, workload: &str) -> PathBuf {
        self.root.join("other-ca").join(workload)
    }

    fn caller_dir(&self, caller: Caller) -> Option<PathBuf> {
        match caller {
            Caller::Workload(name) => Some(self.dir(name)),
            Caller::Anonymous => None,
            Caller::OtherCa => Some(self.other_ca("cart-service")),
            Caller::Expired => Some(self.root.join("expired")),
        }
    }
}

/// A channel to the gRPC port as `caller`, checking that the server is `SERVER` of the test CA.
pub async fn channel_as(port: u16, caller: Caller) -> Result<Channel, tonic::transport::Error> {
    channel_trusting(port, &PKI.dir(SERVER), PKI.caller_dir(caller)).await
}

/// A channel that trusts the `ca.crt` in `trusted` and presents the certificate in `identity`.
pub async fn channel_trusting(
    port: u16,
    trusted: &Path,
    identity: Option<PathBuf>,
) -> Result<Channel, tonic::transport::Error> {
    let ca = std::fs::read(trusted.join("ca.crt")).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name(SERVER);
    if let Some(dir) = identity {
        let (cert, key) = (std::fs::read(dir.join("tls.crt")).unwrap(), std::fs::read(dir.join("tls.key")).unwrap());
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{port}")).unwrap().tls_config(tls).unwrap().connect().await
}

fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// How long a test certificate is valid.
enum Validity {
    /// rcgen's default: until 4096.
    Long,
    /// It expired in 2021.
    Expired,
    /// Until this time tomorrow.
    OneMoreDay,
}

fn issue(dir: &Path, ca: &CertifiedIssuer<'static, KeyPair>, name: &str, validity: Validity) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    match validity {
        Validity::Long => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        Validity::OneMoreDay => {
            params.not_after = (std::time::SystemTime::now() + std::time::Duration::from_secs(86_400)).into();
        }
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
}
