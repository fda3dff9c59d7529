//! Stand-ins for auth-service in tests: Ed25519 keys that sign access tokens, a JWKS endpoint
//! serving their public halves that a test can rotate, break and count, and auth's gRPC
//! `VerifyToken` over mutual TLS (the test CA's auth certificate; callers must present one).
use actix_web::{web, App, HttpResponse, HttpServer};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use payment_service::proto::shop::auth::v1::{
    auth_service_server::{AuthService, AuthServiceServer},
    GetUserRequest, GetUserResponse, VerifyTokenRequest, VerifyTokenResponse,
};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

pub const ISSUER: &str = "shop-auth";
pub const AUDIENCE: &str = "shop";

pub struct TestKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA" }),
        }
    }

    /// A token like auth's for a user with `roles`, valid for five minutes.
    pub fn token(&self, roles: &[&str]) -> String {
        self.token_with(roles, |_| {})
    }

    /// A token whose claims `edit` may spoil (expired, wrong audience, ...).
    pub fn token_with(&self, roles: &[&str], edit: impl FnOnce(&mut Value)) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let mut claims = json!({
            "sub": uuid::Uuid::now_v7().to_string(),
            "jti": uuid::Uuid::now_v7().to_string(),
            "sid": uuid::Uuid::now_v7().to_string(),
            "roles": roles,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        });
        edit(&mut claims);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.encoding).unwrap()
    }

    /// Tokens every service must refuse, each named: the algorithm-confusion forgeries, a
    /// payload altered under a genuine signature, claims out of their window or meant for
    /// someone else, and keys auth never published. `roles` would otherwise be enough.
    pub fn refused_tokens(&self, roles: &[&str]) -> Vec<(&'static str, String)> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let genuine = self.token(roles);
        let mut parts = genuine.split('.');
        let (header, payload, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["sub"] = json!(uuid::Uuid::now_v7().to_string());
        let swapped = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let none = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({ "alg": "none", "typ": "JWT", "kid": self.kid })).unwrap());
        let mut hs_header = Header::new(Algorithm::HS256);
        hs_header.kid = Some(self.kid.clone());
        let public = self.jwk["x"].as_str().unwrap();
        let hs256 = encode(&hs_header, &claims, &EncodingKey::from_secret(public.as_bytes())).unwrap();
        let hs256_raw =
            encode(&hs_header, &claims, &EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(public).unwrap())).unwrap();
        let mut impostor = TestKey::generate(&self.kid);
        let wrong_key = impostor.token(roles);
        impostor.kid = "a-kid-auth-never-published".into();
        vec![
            ("alg none", format!("{none}.{payload}.")),
            ("HS256 keyed with the public key's text", hs256),
            ("HS256 keyed with the public key's bytes", hs256_raw),
            ("another subject under a genuine signature", format!("{header}.{swapped}.{signature}")),
            ("signature cut off", format!("{header}.{payload}.")),
            ("expired", self.token_with(roles, |c| c["exp"] = json!(now - 120))),
            ("not valid yet", self.token_with(roles, |c| c["nbf"] = json!(now + 600))),
            ("no expiry", self.token_with(roles, |c| drop(c.as_object_mut().unwrap().remove("exp")))),
            ("wrong audience", self.token_with(roles, |c| c["aud"] = json!("another-app"))),
            ("wrong issuer", self.token_with(roles, |c| c["iss"] = json!("someone-else"))),
            ("known kid, another key", wrong_key),
            ("unknown kid", impostor.token(roles)),
            ("not a JWT", "garbage".to_owned()),
        ]
    }
}

/// auth's two endpoints this service calls, each on a port of its own: the JWKS, and the gRPC
/// `VerifyToken` that accepts a token unless its session was revoked here.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    /// auth's gRPC URL (`https://`, the test CA's auth-service certificate).
    pub grpc_url: String,
    revoked: Arc<Mutex<HashSet<String>>>,
    sessions_failing: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl JwksServer {
    pub fn start(keys: &[&TestKey]) -> Self {
        let keys = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let revoked = Arc::new(Mutex::new(HashSet::new()));
        let sessions_failing = Arc::new(AtomicBool::new(false));
        let state = (keys.clone(), fetches.clone(), failing.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let (keys, fetches, failing) = state.clone();
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let (keys, fetches, failing) = (keys.clone(), fetches.clone(), failing.clone());
                    async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        if failing.load(Ordering::SeqCst) {
                            return HttpResponse::ServiceUnavailable().finish();
                        }
                        let keys = keys.lock().unwrap().clone();
                        HttpResponse::Ok().json(json!({ "keys": keys }))
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        let caller = own_certificate("payment-service");
        let stand_in = SessionsStandIn { revoked: revoked.clone(), failing: sessions_failing.clone(), caller };
        let grpc_url = serve_verify_token(stand_in);
        Self { url, grpc_url, revoked, sessions_failing, fetches, failing }
    }

    /// auth revoked this session: `VerifyToken` refuses its tokens from now on.
    pub fn revoke(&self, session_id: &str) {
        self.revoked.lock().unwrap().insert(session_id.to_owned());
    }

    /// `VerifyToken` answers UNAVAILABLE from now on, or answers again.
    pub fn fail_session_check(&self, failing: bool) {
        self.sessions_failing.store(failing, Ordering::SeqCst);
    }

    /// Answers 503 from now on, or serves again.
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The `sid` claim of a token, read without checking it (auth would check it).
fn session_of(token: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    Some(claims["sid"].as_str()?.to_owned())
}

/// auth's `VerifyToken` as this service calls it: INVALID_TOKEN for a revoked session,
/// UNAVAILABLE while failing, and PERMISSION_DENIED to a caller that does not present this
/// service's own certificate (as auth refuses another workload).
struct SessionsStandIn {
    revoked: Arc<Mutex<HashSet<String>>>,
    failing: Arc<AtomicBool>,
    /// The certificate (DER) the service under test must present: payment-service's.
    caller: Vec<u8>,
}

#[tonic::async_trait]
impl AuthService for SessionsStandIn {
    async fn verify_token(
        &self,
        request: tonic::Request<VerifyTokenRequest>,
    ) -> Result<tonic::Response<VerifyTokenResponse>, tonic::Status> {
        let presented = request.peer_certs().and_then(|chain| chain.first().map(|cert| cert.to_vec()));
        if presented.as_deref() != Some(self.caller.as_slice()) {
            return Err(tonic::Status::permission_denied("not the certificate of the service under test"));
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(tonic::Status::unavailable("auth is down"));
        }
        let sid = session_of(&request.get_ref().access_token).unwrap_or_default();
        if self.revoked.lock().unwrap().contains(&sid) {
            let details = tonic_types::ErrorDetails::with_error_info("INVALID_TOKEN", "auth-service", HashMap::new());
            return Err(<tonic::Status as tonic_types::StatusExt>::with_error_details(
                tonic::Code::Unauthenticated,
                "invalid_token: the session was revoked",
                details,
            ));
        }
        Ok(tonic::Response::new(VerifyTokenResponse { claims: None }))
    }

    async fn get_user(
        &self,
        _: tonic::Request<GetUserRequest>,
    ) -> Result<tonic::Response<GetUserResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not a call this service makes"))
    }
}

/// The DER of a workload's certificate from the test CA.
fn own_certificate(workload: &str) -> Vec<u8> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let pem = std::fs::read(crate::pki::PKI.dir(workload).join("tls.crt")).unwrap();
    CertificateDer::from_pem_slice(&pem).unwrap().to_vec()
}

/// Serves `VerifyToken` as auth-service does (mutual TLS); returns its URL.
fn serve_verify_token(stand_in: SessionsStandIn) -> String {
    crate::helpers::serve_as("auth-service", tonic::service::Routes::new(AuthServiceServer::new(stand_in)))
}
