//! Stand-ins for auth-service in tests: Ed25519 keys that sign access tokens, a JWKS endpoint
//! serving their public halves, and auth's gRPC `VerifyToken` (plain text, as these tests reach
//! product and payment; the e2e suite runs cart's mutual TLS against the real auth).
use actix_web::{web, App, HttpResponse, HttpServer};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cart_service::proto::shop::auth::v1::{
    auth_service_server::{AuthService, AuthServiceServer},
    GetUserRequest, GetUserResponse, VerifyTokenRequest, VerifyTokenResponse,
};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
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

/// A JWKS endpoint on a port of its own, serving the given keys, and `VerifyToken` on another,
/// which accepts every token but those of the users whose sessions a test revoked.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    /// auth's gRPC URL (`http://`).
    pub grpc_url: String,
    revoked_users: Arc<Mutex<HashSet<String>>>,
}

impl JwksServer {
    pub fn start(keys: &[&TestKey]) -> Self {
        let body = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let body = body.clone();
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let body = body.clone();
                    async move { HttpResponse::Ok().json(body) }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        let revoked_users = Arc::new(Mutex::new(HashSet::new()));
        let grpc_url = serve_verify_token(SessionsStandIn { revoked_users: revoked_users.clone() });
        Self { url, grpc_url, revoked_users }
    }

    /// auth revoked every session of this user: `VerifyToken` refuses their tokens from now on.
    pub fn revoke_user(&self, user_id: &str) {
        self.revoked_users.lock().unwrap().insert(user_id.to_owned());
    }
}

/// auth's `VerifyToken` as cart calls it at checkout: INVALID_TOKEN for a revoked user's token.
struct SessionsStandIn {
    revoked_users: Arc<Mutex<HashSet<String>>>,
}

#[tonic::async_trait]
impl AuthService for SessionsStandIn {
    async fn verify_token(
        &self,
        request: tonic::Request<VerifyTokenRequest>,
    ) -> Result<tonic::Response<VerifyTokenResponse>, tonic::Status> {
        let user = subject_of(&request.get_ref().access_token).unwrap_or_default();
        if self.revoked_users.lock().unwrap().contains(&user) {
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
        Err(tonic::Status::unimplemented("not a call cart makes"))
    }
}

/// The `sub` claim of a token, read without checking it (auth would check it).
fn subject_of(token: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    Some(claims["sub"].as_str()?.to_owned())
}

/// Serves `VerifyToken` in plain text on a port of its own; returns its URL.
fn serve_verify_token(stand_in: SessionsStandIn) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(AuthServiceServer::new(stand_in))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    url
}
