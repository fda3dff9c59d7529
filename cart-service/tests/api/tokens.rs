//! Stand-ins for auth-service in tests: Ed25519 keys that sign access tokens, and a JWKS
//! endpoint serving their public halves.
use actix_web::{web, App, HttpResponse, HttpServer};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

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
}

/// A JWKS endpoint on a port of its own, serving the given keys.
pub struct JwksServer {
    pub url: String,
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
        Self { url }
    }
}
