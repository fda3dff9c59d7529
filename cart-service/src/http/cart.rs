//! The cart API: `GET /v1/cart`, `POST /v1/cart/items`, `PATCH` and `DELETE
//! /v1/cart/items/{product_id}`, `DELETE /v1/cart`, `POST /v1/cart/checkout`.
use super::{
    caller::Shopper,
    views::{Cart, CheckoutState, CheckoutSummary, ErrorBody},
};
use crate::{
    carts::Carts,
    checkout::{validate_key, Checkouts, PayWith, Standing},
    domain::{ProductId, Quantity},
    error::CartError,
};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_cart)
        .service(add_item)
        .service(update_item)
        .service(remove_item)
        .service(clear_cart)
        .service(checkout)
        .service(checkout_state);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddItem {
    product_id: String,
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateItem {
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Checkout {
    /// `card` (the default) or `paypal`.
    #[serde(default)]
    payment_method: Method,
    /// The card gateway's one-time token (`tok_visa`); cards only.
    #[serde(default)]
    payment_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Method {
    #[default]
    Card,
    Paypal,
}

impl Checkout {
    fn pay_with(&self) -> Result<PayWith, CartError> {
        match (&self.payment_method, &self.payment_token) {
            (Method::Card, Some(token)) => Ok(PayWith::Card { token: token.clone() }),
            (Method::Card, None) => Err(CartError::invalid("payment_token", "is required to pay by card")),
            (Method::Paypal, None) => Ok(PayWith::PayPal),
            (Method::Paypal, Some(_)) => {
                Err(CartError::invalid("payment_token", "is for cards only: a PayPal buyer approves on PayPal"))
            }
        }
    }
}

#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shopper's cart (empty if none)", body = Cart),
        super::openapi::ShopperErrors,
    )
)]
#[get("/v1/cart")]
async fn get_cart(shopper: Shopper, carts: web::Data<Carts>) -> Result<HttpResponse, CartError> {
    let lines = carts.lines(&shopper.user_id).await?;
    Ok(HttpResponse::Ok().json(Cart::of(&shopper.user_id, lines)))
}

#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional: a repeat of this add with the same key (after a lost answer) adds nothing more and answers the cart")),
    request_body = AddItem,
    responses(
        (status = 200, description = "The cart with the product added (quantities add up, at most 99 a line)", body = Cart),
        (status = 400, description = "Bad quantity, product id, Idempotency-Key or body", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "The cart holds 100 lines already", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used for another product or quantity", body = ErrorBody),
        super::openapi::BodyErrors,
        super::openapi::ShopperErrors,
    )
)]
#[post("/v1/cart/items")]
async fn add_item(
    shopper: Shopper,
    carts: web::Data<Carts>,
    req: HttpRequest,
    body: web::Json<AddItem>,
) -> Result<HttpResponse, CartError> {
    // Optional here (an add is repeatable by hand), but when sent it must be well formed.
    let key = match req.headers().get("Idempotency-Key") {
        Some(value) => Some(validate_key(Some(value.to_str().unwrap_or_default()))?),
        None => None,
    };
    let (product_id, quantity) = (ProductId::parse(&body.product_id)?, Quantity::parse(body.quantity)?);
    let lines = carts.add(&shopper.user_id, &product_id, quantity, key.as_deref()).await?;
    Ok(HttpResponse::Ok().json(Cart::of(&shopper.user_id, lines)))
}

#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    params(("product_id" = String, Path, format = "uuid", description = "The product of the line")),
    request_body = UpdateItem,
    responses(
        (status = 200, description = "The cart with the line's new quantity", body = Cart),
        (status = 400, description = "Bad quantity, product id or body", body = ErrorBody),
        (status = 404, description = "No such line in the cart", body = ErrorBody),
        super::openapi::BodyErrors,
        super::openapi::ShopperErrors,
    )
)]
#[patch("/v1/cart/items/{product_id}")]
async fn update_item(
    shopper: Shopper,
    carts: web::Data<Carts>,
    product_id: web::Path<String>,
    body: web::Json<UpdateItem>,
) -> Result<HttpResponse, CartError> {
    let (product_id, quantity) = (ProductId::parse(&product_id)?, Quantity::parse(body.quantity)?);
    let lines = carts.set_quantity(&shopper.user_id, &product_id, quantity).await?;
    Ok(HttpResponse::Ok().json(Cart::of(&shopper.user_id, lines)))
}

#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    params(("product_id" = String, Path, format = "uuid", description = "The product of the line")),
    responses(
        (status = 200, description = "The cart without the line", body = Cart),
        (status = 400, description = "The product id is malformed", body = ErrorBody),
        (status = 404, description = "No such line in the cart", body = ErrorBody),
        super::openapi::ShopperErrors,
    )
)]
#[delete("/v1/cart/items/{product_id}")]
async fn remove_item(
    shopper: Shopper,
    carts: web::Data<Carts>,
    product_id: web::Path<String>,
) -> Result<HttpResponse, CartError> {
    let lines = carts.remove(&shopper.user_id, &ProductId::parse(&product_id)?).await?;
    Ok(HttpResponse::Ok().json(Cart::of(&shopper.user_id, lines)))
}

#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The cart is empty"),
        super::openapi::ShopperErrors,
    )
)]
#[delete("/v1/cart")]
async fn clear_cart(shopper: Shopper, carts: web::Data<Carts>) -> Result<HttpResponse, CartError> {
    carts.clear(&shopper.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Answers 201 (paid: `{checkout_id, payment_id, status, lines, total}`), 202 (the gateway
/// has not decided yet; or, paying with PayPal, `requires_approval` with `approval_url`), 402 (declined; the cart is kept), 409 (empty cart, unavailable lines,
/// out of stock, a checkout with this key in progress), 401 (revoked session), 503 (a service
/// is down: retry with the same key). A retry with the same Idempotency-Key answers the same.
#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "The checkout's id: a retry with the same key answers the same")),
    request_body = Checkout,
    responses(
        (status = 201, description = "Paid: stock committed, lines taken out of the cart", body = CheckoutSummary),
        (status = 202, description = "The gateway has not decided (`pending`), or PayPal's buyer has to approve at `approval_url` (`requires_approval`); the payment's event finishes the checkout", body = CheckoutSummary),
        (status = 400, description = "No or a malformed Idempotency-Key, or a bad body", body = ErrorBody),
        (status = 402, description = "The card was declined; the stock is released, the cart kept", body = ErrorBody),
        (status = 409, description = "Empty cart, unavailable lines, out of stock, or this key's checkout still running", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used for another request", body = ErrorBody),
        super::openapi::BodyErrors,
        super::openapi::ShopperErrors,
    )
)]
#[post("/v1/cart/checkout")]
async fn checkout(
    shopper: Shopper,
    checkouts: web::Data<Checkouts>,
    req: HttpRequest,
    body: web::Json<Checkout>,
) -> Result<HttpResponse, CartError> {
    let key = validate_key(req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()))?;
    let pay_with = body.pay_with()?;
    let summary = CheckoutSummary::of(checkouts.checkout(&shopper.user_id, &shopper.token, &key, &pay_with).await?);
    let mut answer = if summary.status == "paid" { HttpResponse::Created() } else { HttpResponse::Accepted() };
    Ok(answer.json(summary))
}

/// Where the shopper's checkout stands: after a 202, poll this until it is `paid`, `declined`
/// or `not_sold`; `interrupted` asks for a retry of the checkout with its Idempotency-Key. A pending checkout is asked of payment each time, and one paid since is
/// finished here (stock committed, lines out of the cart) as a retry with its key would.
#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    params(("checkout_id" = String, Path, description = "The `checkout_id` a checkout answered")),
    responses(
        (status = 200, description = "Where it stands", body = CheckoutState),
        (status = 404, description = "No checkout of the shopper's by this id (records are kept a day)", body = ErrorBody),
        super::openapi::ShopperErrors,
    )
)]
#[get("/v1/cart/checkout/{checkout_id}")]
async fn checkout_state(
    shopper: Shopper,
    checkouts: web::Data<Checkouts>,
    path: web::Path<String>,
) -> Result<HttpResponse, CartError> {
    let checkout_id = path.into_inner();
    let state = match checkouts.standing(&shopper.user_id, &shopper.token, &checkout_id).await? {
        Standing::InProgress => CheckoutState::ended(checkout_id, "in_progress", None),
        Standing::Interrupted => CheckoutState::ended(checkout_id, "interrupted", None),
        Standing::Ended(Ok(outcome)) => CheckoutState::of(outcome),
        Standing::Ended(Err(declined @ (CartError::PaymentDeclined { .. } | CartError::DeclinedBefore(_)))) => {
            CheckoutState::ended(checkout_id, "declined", Some(&declined))
        }
        Standing::Ended(Err(not_sold @ CartError::Conflict(_))) => {
            CheckoutState::ended(checkout_id, "not_sold", Some(&not_sold))
        }
        // Not an ending: payment or product did not answer.
        Standing::Ended(Err(error)) => return Err(error),
    };
    Ok(HttpResponse::Ok().json(state))
}
