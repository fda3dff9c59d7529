use super::{PublicKey, SigningKeys};
use crate::{configuration::TokenSettings, domain::Role};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub jti: String,
    /// The session (token family) the token belongs to: revoking it revokes the token for
    /// every check that asks auth.
    pub sid: String,
    pub roles: Vec<Role>,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

impl Claims {
    pub fn user_id(&self) -> Option<Uuid> {
        self.sub.parse().ok()
    }

    pub fn session_id(&self) -> Option<Uuid> {
        self.sid.parse().ok()
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

/// Why a token was refused. Callers answer the same 401 for each: the reason is for logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token or header")]
    Malformed,
    #[error("the token's key id is unknown")]
    UnknownKey,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

pub struct AccessTokens {
    keys: SigningKeys,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// Clock skew tolerated between services on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

impl AccessTokens {
    pub fn new(settings: &TokenSettings) -> anyhow::Result<Self> {
        let keys = SigningKeys::from_spec(settings.signing_keys.expose_secret())?;
        // Only EdDSA: a token whose header names another algorithm (`none`, HS256 "signed"
        // with the public key, RS256...) is refused before any key is used.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            keys,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.access_ttl,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn public_keys(&self) -> &[PublicKey] {
        self.keys.public_keys()
    }

    pub fn issue(&self, user_id: Uuid, session_id: Uuid, roles: Vec<Role>) -> anyhow::Result<(String, Claims)> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            jti: Uuid::now_v7().to_string(),
            sid: session_id.to_string(),
            roles,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
        };
        let (kid, key) = self.keys.active();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header.typ = Some("JWT".to_owned());
        Ok((encode(&header, &claims, key)?, claims))
    }

    /// Checks signature, algorithm, key id, issuer, audience, expiry and not-before. Says
    /// nothing about revocation: that needs the database (see `Accounts::verify_session`).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.verifying_key(&kid).ok_or(TokenError::UnknownKey)?;
        decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(format!("{:?}", e.kind())))
    }
}
