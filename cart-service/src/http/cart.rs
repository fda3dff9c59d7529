//! The cart API: `GET /v1/cart`, `POST /v1/cart/items`, `PATCH` and `DELETE
//! /v1/cart/items/{product_id}`, `DELETE /v1/cart`, `POST /v1/cart/checkout`.
use super::caller::Shopper;
use crate::{
    carts::{to_json, Carts},
    checkout::{validate_key, Checkouts},
    error::CartError,
};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_cart)
        .service(add_item)
        .service(update_item)
        .service(remove_item)
        .service(clear_cart)
        .service(checkout);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddItem {
    product_id: String,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateItem {
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkout {
    payment_token: String,
}

#[get("/v1/cart")]
async fn get_cart(shopper: Shopper, carts: web::Data<Carts>) -> Result<HttpResponse, CartError> {
    let lines = carts.lines(&shopper.user_id).await?;
    Ok(HttpResponse::Ok().json(to_json(&shopper.user_id, &lines)))
}

#[post("/v1/cart/items")]
async fn add_item(
    shopper: Shopper,
    carts: web::Data<Carts>,
    body: web::Json<AddItem>,
) -> Result<HttpResponse, CartError> {
    let lines = carts.add(&shopper.user_id, &body.product_id, body.quantity).await?;
    Ok(HttpResponse::Ok().json(to_json(&shopper.user_id, &lines)))
}

#[patch("/v1/cart/items/{product_id}")]
async fn update_item(
    shopper: Shopper,
    carts: web::Data<Carts>,
    product_id: web::Path<String>,
    body: web::Json<UpdateItem>,
) -> Result<HttpResponse, CartError> {
    let lines = carts.set_quantity(&shopper.user_id, &product_id, body.quantity).await?;
    Ok(HttpResponse::Ok().json(to_json(&shopper.user_id, &lines)))
}

#[delete("/v1/cart/items/{product_id}")]
async fn remove_item(
    shopper: Shopper,
    carts: web::Data<Carts>,
    product_id: web::Path<String>,
) -> Result<HttpResponse, CartError> {
    let lines = carts.remove(&shopper.user_id, &product_id).await?;
    Ok(HttpResponse::Ok().json(to_json(&shopper.user_id, &lines)))
}

#[delete("/v1/cart")]
async fn clear_cart(shopper: Shopper, carts: web::Data<Carts>) -> Result<HttpResponse, CartError> {
    carts.clear(&shopper.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Answers 201 (paid: `{checkout_id, payment_id, status, lines, total}`), 202 (the gateway
/// has not decided yet), 402 (declined; the cart is kept), 409 (empty cart, unavailable lines,
/// out of stock, a checkout with this key in progress), 401 (revoked session), 503 (a service
/// is down: retry with the same key). A retry with the same Idempotency-Key answers the same.
#[post("/v1/cart/checkout")]
async fn checkout(
    shopper: Shopper,
    checkouts: web::Data<Checkouts>,
    req: HttpRequest,
    body: web::Json<Checkout>,
) -> Result<HttpResponse, CartError> {
    let key = validate_key(req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()))?;
    let answer = checkouts.checkout(&shopper.user_id, &shopper.token, &key, &body.payment_token).await?;
    let status = actix_web::http::StatusCode::from_u16(answer.status).map_err(anyhow::Error::from)?;
    Ok(HttpResponse::build(status).json(answer.body))
}
