//! Tokens: EdDSA-signed access JWTs (and the JWKS that lets other services verify them) and
//! opaque refresh tokens.
mod access;
mod keys;
mod refresh;

pub use access::{AccessTokens, Claims, TokenError};
pub use keys::{parse_key_spec, PublicKey, SigningKeys};
pub use refresh::{hash_refresh_token, new_refresh_token};
