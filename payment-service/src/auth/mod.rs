//! Who is paying: the user's access token, issued by auth-service and forwarded by the caller
//! (cart) in the `authorization` metadata, verified here without asking auth (signature with
//! auth's public keys from its JWKS, algorithm, issuer, audience, expiry), then its session
//! confirmed online with auth (`VerifyToken`, `upstream::auth`).
mod jwks;

pub use jwks::Jwks;

use crate::upstream::auth::Sessions;
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;
use tracing::Instrument;

/// The claims this service uses; the rest of the token is checked but not kept.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user id: whose payments the caller may create and see.
    pub sub: String,
    /// `admin` lets an operator refund any payment (`http/admin.rs`).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Claims {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// Why a token was not accepted. Every variant but `KeysUnavailable` is the caller's problem
/// (401); the reason goes to the logs, the caller only learns that the token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("the token's key id is unknown")]
    UnknownKey,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("auth's public keys cannot be fetched and none are cached")]
    KeysUnavailable(#[source] anyhow::Error),
    #[error("the token's session was revoked")]
    Revoked,
    #[error("auth cannot confirm the token's session")]
    SessionUnconfirmed(#[source] anyhow::Error),
}

/// Clock skew tolerated between services on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

pub struct TokenVerifier {
    jwks: Jwks,
    validation: Validation,
    /// Signatures prove who issued a token, not that its session is still open.
    sessions: Sessions,
}

impl TokenVerifier {
    pub fn new(jwks: Jwks, sessions: Sessions, issuer: &str, audience: &str) -> Self {
        // Only EdDSA, whatever the token's header says: `none`, or HS256 "signed" with the
        // public key, is refused before any key is used.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { jwks, validation, sessions }
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.jwks.key(&kid).await?;
        decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(format!("{:?}", e.kind())))
    }

    /// Asks auth whether the (already verified) token's session is still active: a logged-out
    /// or revoked session is refused before its tokens expire.
    pub async fn confirm_session(&self, token: &str) -> Result<(), TokenError> {
        match self.sessions.is_active(token).instrument(tracing::info_span!("auth.verify_token")).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(TokenError::Revoked),
            Err(error) => Err(TokenError::SessionUnconfirmed(error)),
        }
    }
}
