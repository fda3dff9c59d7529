//! The shopper behind a request: a verified access token (auth's keys, checked locally).
use crate::{auth::TokenVerifier, domain::is_uuid, error::CartError};
use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use std::{future::Future, pin::Pin};

/// Extracting it answers 401 without a valid token. List it first among a handler's
/// arguments so that it is checked before the body is read.
pub struct Shopper {
    pub user_id: String,
    /// The bearer token, forwarded to payment (whose payments are the user's own) and to
    /// auth's session check at checkout.
    pub token: String,
}

impl FromRequest for Shopper {
    type Error = CartError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, CartError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<TokenVerifier>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let verifier = verifier.ok_or_else(|| anyhow::anyhow!("the token verifier is not registered"))?;
            let token = token.ok_or(CartError::Unauthenticated)?;
            let claims = verifier.verify(&token).await?;
            // Carts are keyed by user id, which auth issues as a UUID.
            if !is_uuid(&claims.sub) {
                return Err(CartError::Unauthenticated);
            }
            Ok(Self { user_id: claims.sub, token })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}
