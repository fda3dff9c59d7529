//! The admin API: `POST /v1/products`, `PATCH` and `DELETE /v1/products/{id}`,
//! `POST /v1/products/{id}/stock`. Writes to an existing product name the version they were
//! based on, as `If-Match: "<version>"` (the ETag of the read) or `version` in the body.
use super::{
    caller::AdminCaller,
    catalogue::{etag, parse_id},
    views::{AdminProduct, ErrorBody},
};
use crate::{
    admin::{Admin, Changes, Draft, Expected},
    domain::{Attributes, Description, OnHand, Price, ProductName, Sku, StockChange},
    error::ProductError,
};
use actix_web::{delete, http::header, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_product).service(update_product).service(delete_product).service(change_stock);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MoneyInput {
    amount_minor: i64,
    currency: String,
}

impl MoneyInput {
    fn parse(&self) -> Result<Price, ProductError> {
        Price::parse(self.amount_minor, &self.currency)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    category_id: Option<uuid::Uuid>,
    price: MoneyInput,
    #[serde(default)]
    attributes: Option<serde_json::Value>,
    #[serde(default)]
    stock: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    name: Option<String>,
    description: Option<String>,
    /// `null` removes the category; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    category_id: Option<Option<uuid::Uuid>>,
    price: Option<MoneyInput>,
    attributes: Option<serde_json::Value>,
    version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StockInput {
    set: Option<i64>,
    adjust: Option<i64>,
    version: Option<i64>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateInput,
    responses(
        (status = 201, description = "Created; `Location` names it", body = AdminProduct,
            headers(("Location" = String), ("ETag" = String))),
        (status = 400, description = "Bad input (price, currency, sku, name, attributes, stock, JSON)", body = ErrorBody),
        (status = 404, description = "No such category", body = ErrorBody),
        (status = 409, description = "The sku exists already", body = ErrorBody),
        super::openapi::AdminErrors,
    )
)]
#[post("/v1/products")]
async fn create_product(
    caller: AdminCaller,
    admin: web::Data<Admin>,
    input: web::Json<CreateInput>,
) -> Result<HttpResponse, ProductError> {
    let input = input.into_inner();
    let draft = Draft {
        sku: Sku::parse(&input.sku)?,
        name: ProductName::parse(&input.name)?,
        description: Description::parse(&input.description)?,
        category_id: input.category_id,
        price: input.price.parse()?,
        attributes: input.attributes.map(Attributes::parse).transpose()?.unwrap_or_default(),
        on_hand: OnHand::parse(input.stock)?,
    };
    let product = admin.create(draft).await?;
    tracing::info!(admin = caller.user_id, product_id = %product.id, sku = product.sku, "product created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/products/{}", product.id)))
        .insert_header((header::ETAG, etag(product.version)))
        .json(AdminProduct::from(product)))
}

#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The product id"), ("If-Match" = Option<String>, Header, description = "The version the change is based on, as its ETag (`\"7\"`) or `*`")),
    request_body = UpdateInput,
    responses(
        (status = 200, description = "Updated", body = AdminProduct, headers(("ETag" = String))),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 404, description = "No such product or category", body = ErrorBody),
        (status = 412, description = "The product changed since that version", body = ErrorBody),
        (status = 428, description = "No version sent (If-Match or `version`)", body = ErrorBody),
        super::openapi::AdminErrors,
    )
)]
#[patch("/v1/products/{id}")]
async fn update_product(
    caller: AdminCaller,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    req: HttpRequest,
    input: web::Json<UpdateInput>,
) -> Result<HttpResponse, ProductError> {
    let id = parse_id(&id)?;
    let input = input.into_inner();
    let expected = expected_version(&req, input.version)?.ok_or(ProductError::PreconditionRequired)?;
    let changes = Changes {
        name: input.name.as_deref().map(ProductName::parse).transpose()?,
        description: input.description.as_deref().map(Description::parse).transpose()?,
        category_id: input.category_id,
        price: input.price.map(|price| price.parse()).transpose()?,
        attributes: input.attributes.map(Attributes::parse).transpose()?,
    };
    let product = admin.update(id, expected, changes).await?;
    tracing::info!(admin = caller.user_id, product_id = %id, version = product.version, "product updated");
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(product.version))).json(AdminProduct::from(product)))
}

/// Soft delete: the product leaves the catalogue and cannot be reserved; `If-Match` is
/// optional here (deleting needs no knowledge of the current details).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The product id"), ("If-Match" = Option<String>, Header, description = "The version the change is based on, as its ETag (`\"7\"`) or `*`")),
    responses(
        (status = 204, description = "Taken out of the catalogue"),
        (status = 400, description = "The id or If-Match is malformed", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 412, description = "The product changed since that version", body = ErrorBody),
        super::openapi::AdminErrors,
    )
)]
#[delete("/v1/products/{id}")]
async fn delete_product(
    caller: AdminCaller,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ProductError> {
    let id = parse_id(&id)?;
    let expected = expected_version(&req, None)?.unwrap_or(Expected::Any);
    admin.delete(id, expected).await?;
    tracing::info!(admin = caller.user_id, product_id = %id, "product deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// `{"set": n}` makes the stock on hand n; `{"adjust": d}` moves it by d (a delivery, a
/// correction). Either way it may not drop below what checkouts have reserved. `If-Match`
/// is optional: an adjustment is correct whatever the version.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The product id"), ("If-Match" = Option<String>, Header, description = "The version the change is based on, as its ETag (`\"7\"`) or `*`")),
    request_body = StockInput,
    responses(
        (status = 200, description = "The stock after the change", body = AdminProduct, headers(("ETag" = String))),
        (status = 400, description = "Neither or both of `set` and `adjust`, or out of range", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "Below what checkouts have reserved", body = ErrorBody),
        (status = 412, description = "The product changed since that version", body = ErrorBody),
        super::openapi::AdminErrors,
    )
)]
#[post("/v1/products/{id}/stock")]
async fn change_stock(
    caller: AdminCaller,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    req: HttpRequest,
    input: web::Json<StockInput>,
) -> Result<HttpResponse, ProductError> {
    let id = parse_id(&id)?;
    let input = input.into_inner();
    let expected = expected_version(&req, input.version)?.unwrap_or(Expected::Any);
    let change = match (input.set, input.adjust) {
        (Some(on_hand), None) => StockChange::Set(OnHand::parse(on_hand)?),
        (None, Some(delta)) => StockChange::adjust(delta)?,
        (Some(_), Some(_)) | (None, None) => {
            return Err(ProductError::invalid("body", "send exactly one of `set` and `adjust`"))
        }
    };
    let product = admin.change_stock(id, expected, change).await?;
    tracing::info!(admin = caller.user_id, product_id = %id, on_hand = product.on_hand, "stock changed");
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(product.version))).json(AdminProduct::from(product)))
}

/// The version a write is based on: `If-Match` (`"7"`, a list of such tags, or `*`) or the
/// body's `version`; both at once must agree. `None` when neither was sent.
fn expected_version(req: &HttpRequest, body_version: Option<i64>) -> Result<Option<Expected>, ProductError> {
    let header = match req.headers().get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| ProductError::invalid("If-Match", "is not ASCII"))?.trim();
            if value == "*" {
                Some(Expected::Any)
            } else {
                let versions = value
                    .split(',')
                    .map(|tag| {
                        tag.trim().strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.parse().ok())
                    })
                    .collect::<Option<Vec<i64>>>()
                    .ok_or_else(|| {
                        ProductError::invalid("If-Match", "must be the product's ETag, such as \"7\" (quotes included)")
                    })?;
                Some(Expected::Versions(versions))
            }
        }
    };
    match (header, body_version) {
        (Some(Expected::Versions(tags)), Some(version)) if !tags.contains(&version) => {
            Err(ProductError::invalid("version", "disagrees with If-Match"))
        }
        (Some(expected), _) => Ok(Some(expected)),
        (None, Some(version)) => Ok(Some(Expected::Versions(vec![version]))),
        (None, None) => Ok(None),
    }
}
