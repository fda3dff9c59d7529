//! The caller of an operator route: a verified access token carrying the `admin` role, of a
//! session auth confirms is still active.
use crate::{auth::TokenVerifier, error::PaymentError};
use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use std::{future::Future, pin::Pin};

/// Extracting it answers 401 without a valid token and 403 without the admin role; nothing the
/// handler does happens before. (actix polls a handler's extractors together: the body may be
/// read meanwhile, bounded by the route's limit.)
pub struct OperatorCaller {
    /// The admin's user id: kept with what they do (the audit trail) and logged.
    pub user_id: String,
}

impl FromRequest for OperatorCaller {
    type Error = PaymentError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PaymentError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<TokenVerifier>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let verifier = verifier.ok_or_else(|| anyhow::anyhow!("the token verifier is not registered"))?;
            let token = token.ok_or(PaymentError::Unauthenticated)?;
            let claims = verifier.verify(&token).await?;
            if !claims.is_admin() {
                return Err(PaymentError::NotAnOperator);
            }
            verifier.confirm_session(&token).await?;
            Ok(Self { user_id: claims.sub })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}
