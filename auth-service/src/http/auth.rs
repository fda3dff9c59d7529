//! The accounts REST API under /v1/auth, and the JWKS.
use super::client_address::client_address;
use super::views::{ErrorBody, JwkSet, Me, Order, Orders, SignedUp};
use crate::{accounts::Accounts, error::AuthError, tokens::Claims};
use actix_web::{get, http::header, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(signup).service(login).service(refresh).service(logout).service(me).service(my_orders).service(jwks);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct LogoutRequest {
    refresh_token: Option<String>,
}

#[utoipa::path(
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, description = "The account exists", body = SignedUp),
        (status = 400, description = "A malformed e-mail, a weak password (8 to 128 characters, not the e-mail), or a bad body", body = ErrorBody),
        (status = 409, description = "The e-mail has an account already", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; retry after `Retry-After`", body = ErrorBody),
        super::openapi::JsonBodyErrors,
    )
)]
#[post("/v1/auth/signup")]
async fn signup(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AuthError> {
    let Credentials { email, password } = body.into_inner();
    let client = client_address(&req, accounts.trusted_proxies());
    let user_id = accounts.signup(&email, password, client).await?;
    Ok(HttpResponse::Created().json(SignedUp { user_id }))
}

#[utoipa::path(
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "An access token (15 min) and a refresh token", body = crate::accounts::TokenPair),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password (the same answer for both)", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this e-mail or from this address; retry after `Retry-After`. The password was not checked", body = ErrorBody),
        super::openapi::JsonBodyErrors,
    )
)]
#[post("/v1/auth/login")]
async fn login(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AuthError> {
    let Credentials { email, password } = body.into_inner();
    let client = client_address(&req, accounts.trusted_proxies());
    let pair = accounts.login(&email, password, client).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(&pair))
}

#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the refresh token sent is spent", body = crate::accounts::TokenPair),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "Unknown, expired or revoked; or spent, which revokes its whole session", body = ErrorBody),
        super::openapi::JsonBodyErrors,
    )
)]
#[post("/v1/auth/refresh")]
async fn refresh(accounts: web::Data<Accounts>, body: web::Json<RefreshRequest>) -> Result<HttpResponse, AuthError> {
    let pair = accounts.refresh(&body.refresh_token).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(&pair))
}

/// Revokes the session of the refresh token in the body, or else of the bearer token.
#[utoipa::path(
    tag = "auth",
    security((), ("bearer" = [])),
    request_body(content = Option<LogoutRequest>, description = "The session's refresh token; or no body and a bearer token"),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "No token, or not one of ours", body = ErrorBody),
        (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = ErrorBody),
    )
)]
#[post("/v1/auth/logout")]
async fn logout(
    accounts: web::Data<Accounts>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, AuthError> {
    // The body is optional, so it is read here (with the same limit as everywhere) rather
    // than by the JSON extractor, which would insist on one.
    let body = match body.to_bytes_limited(super::MAX_BODY).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => return Err(AuthError::invalid("body", format!("could not be read: {error}"))),
        Err(_) => return Err(AuthError::PayloadTooLarge(super::MAX_BODY)),
    };
    let body: LogoutRequest = if body.is_empty() {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AuthError::invalid("body", format!("is not valid JSON: {e}")))?
    };
    let claims = match bearer_token(&req) {
        Some(token) if body.refresh_token.is_none() => Some(accounts.authenticate(token?).await?),
        _ => None,
    };
    accounts.logout(body.refresh_token.as_deref(), claims.as_ref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = Me),
        (status = 401, description = "No valid token, or its session was revoked", body = ErrorBody),
        (status = 404, description = "The account is gone", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = ErrorBody),
    )
)]
#[get("/v1/auth/me")]
async fn me(accounts: web::Data<Accounts>, req: HttpRequest) -> Result<HttpResponse, AuthError> {
    let claims = authenticated(&accounts, &req).await?;
    let user = accounts.user(claims.user_id().ok_or(AuthError::InvalidToken)?).await?;
    Ok(HttpResponse::Ok().json(Me::from(user)))
}

#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user's paid orders", body = Orders),
        (status = 401, description = "No valid token, or its session was revoked", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = ErrorBody),
    )
)]
#[get("/v1/auth/me/orders")]
async fn my_orders(accounts: web::Data<Accounts>, req: HttpRequest) -> Result<HttpResponse, AuthError> {
    let claims = authenticated(&accounts, &req).await?;
    let orders = accounts.orders(claims.user_id().ok_or(AuthError::InvalidToken)?).await?;
    Ok(HttpResponse::Ok().json(Orders { orders: orders.into_iter().map(Order::from).collect() }))
}

#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "The public keys that verify access tokens", body = JwkSet))
)]
#[get("/.well-known/jwks.json")]
async fn jwks(accounts: web::Data<Accounts>) -> HttpResponse {
    // Verifiers cache the set; a rotated-in key is fetched again on an unknown kid.
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(JwkSet::from(accounts.tokens().public_keys()))
}

/// The bearer token of the request, if it has an Authorization header; an Authorization
/// header of another scheme is an error.
fn bearer_token(req: &HttpRequest) -> Option<Result<&str, AuthError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::InvalidToken),
    )
}

async fn authenticated(accounts: &Accounts, req: &HttpRequest) -> Result<Claims, AuthError> {
    let token = bearer_token(req).ok_or(AuthError::MissingToken)??;
    accounts.authenticate(token).await
}
