//! Who is shopping: the user's access token, issued by auth-service, verified here without
//! asking auth (signature with auth's public keys from its JWKS, algorithm, issuer, audience,
//! expiry) and against the sessions auth has revoked (learned from its events); at checkout
//! auth also confirms the session online (`Upstream::session_is_active`).
mod jwks;
mod revocations;

pub use jwks::Jwks;
pub use revocations::Revocations;

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

/// The claims this service uses; the rest of the token is checked but not kept.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user id: whose cart this is.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The session (auth's refresh-token family) the token was issued for.
    #[serde(default)]
    pub sid: String,
}

/// Why a token was not accepted. Every variant but `KeysUnavailable` is the caller's problem
/// (401); the reason goes to the logs, the caller only learns that the token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("the token's key id is unknown")]
    UnknownKey,
    #[error("the token's session was revoked")]
    Revoked,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("auth's public keys cannot be fetched and none are cached")]
    KeysUnavailable(#[source] anyhow::Error),
}

/// Clock skew tolerated between services on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// Tokens remembered as verified, at most; beyond it expired ones are dropped, then all.
const VERIFIED_CAPACITY: usize = 20_000;

/// A token whose signature, issuer, audience and dates were checked.
struct Verified {
    claims: Claims,
    kid: String,
}

pub struct TokenVerifier {
    jwks: Jwks,
    validation: Validation,
    /// A shopper sends the same token with every request until it expires: remembering it
    /// spares the Ed25519 signature check, the largest single cost of a cart read. A
    /// remembered token is still refused once expired or once auth no longer serves its key.
    verified: Mutex<HashMap<String, Verified>>,
    revocations: Arc<Revocations>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl TokenVerifier {
    pub fn new(jwks: Jwks, revocations: Arc<Revocations>, issuer: &str, audience: &str) -> Self {
        // Only EdDSA, whatever the token's header says: `none`, or HS256 "signed" with the
        // public key, is refused before any key is used.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { jwks, validation, verified: Mutex::new(HashMap::new()), revocations }
    }

    /// The claims of `token` if it was verified before and is unexpired.
    fn remembered(&self, token: &str) -> Option<(Claims, String)> {
        let verified = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = verified.get(token)?;
        (entry.claims.exp + LEEWAY_SECS > now_secs()).then(|| (entry.claims.clone(), entry.kid.clone()))
    }

    fn remember(&self, token: &str, claims: &Claims, kid: String) {
        let mut verified = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            let now = now_secs();
            verified.retain(|_, v| v.claims.exp + LEEWAY_SECS > now);
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), Verified { claims: claims.clone(), kid });
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = self.verify_signed(token).await?;
        if self.revocations.is_revoked(&claims.sid) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Signature, algorithm, issuer, audience and dates, or the memory of having checked them.
    async fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some((claims, kid)) = self.remembered(token) {
            // Its key must still be one auth serves (a retired key retires its tokens).
            self.jwks.key(&kid).await?;
            return Ok(claims);
        }
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.jwks.key(&kid).await?;
        let claims = decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(format!("{:?}", e.kind())))?;
        self.remember(token, &claims, kid);
        Ok(claims)
    }
}
