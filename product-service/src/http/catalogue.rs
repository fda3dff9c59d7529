//! The public catalogue API: `GET /v1/products`, `GET /v1/products/{id}`, `GET /v1/categories`.
use crate::{
    cache::{CachedProduct, ProductCache},
    catalogue::{decode_token, Catalogue, Filter, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    error::ProductError,
    store::products::ProductRow,
};
use actix_web::{get, http::header, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::{collections::HashMap, sync::Arc};
use uuid::Uuid;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_products).service(get_product).service(list_categories);
}

/// Query parameters: `category`, `q`, `min_price`, `max_price` (minor units), `in_stock`,
/// `attr.<name>=<value>` (equality on the JSONB attributes), `page_size` (1-100),
/// `page_token`.
#[utoipa::path(
    tag = "catalogue",
    params(super::openapi::ListQuery),
    responses(
        (status = 200, description = "A page of active products, by id", body = super::openapi::ProductPage),
        (status = 400, description = "A bad filter, page size or page token", body = super::openapi::ErrorBody),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = super::openapi::ErrorBody),
    )
)]
#[get("/v1/products")]
async fn list_products(
    catalogue: web::Data<Catalogue>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ProductError> {
    let (filter, page_size, after) = parse_listing(&query)?;
    let page = catalogue.list(&filter, page_size, after).await?;
    Ok(HttpResponse::Ok().json(json!({
        "products": page.products.into_iter().map(to_json).collect::<Vec<_>>(),
        "next_page_token": page.next_page_token,
    })))
}

#[utoipa::path(
    tag = "catalogue",
    params(
        ("id" = String, Path, format = "uuid", description = "The product id"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier read"),
    ),
    responses(
        (status = 200, description = "The product; its ETag is its version", body = super::openapi::Product,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, description = "The id is not a UUID", body = super::openapi::ErrorBody),
        (status = 404, description = "No such product, or it left the catalogue", body = super::openapi::ErrorBody),
        (status = 503, description = "The database is unavailable", body = super::openapi::ErrorBody),
    )
)]
#[get("/v1/products/{id}")]
async fn get_product(
    catalogue: web::Data<Catalogue>,
    cache: web::Data<ProductCache>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ProductError> {
    let id = parse_id(&id)?;
    let product = match cache.get(id) {
        Some(product) => product,
        None => {
            let product = catalogue.get(id).await?;
            let cached = Arc::new(CachedProduct {
                etag: etag(product.version),
                body: serde_json::to_vec(&to_json(product)).map_err(anyhow::Error::from)?.into(),
            });
            cache.put(id, Arc::clone(&cached));
            cached
        }
    };
    let matches = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == product.etag || tag.trim() == "*")
    });
    if matches {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, product.etag.clone())).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, product.etag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=5"))
        .content_type("application/json")
        .body(product.body.clone()))
}

#[utoipa::path(
    tag = "catalogue",
    responses(
        (status = 200, description = "Every category, by name", body = super::openapi::Categories),
        (status = 503, description = "The database is unavailable", body = super::openapi::ErrorBody),
    )
)]
#[get("/v1/categories")]
async fn list_categories(catalogue: web::Data<Catalogue>) -> Result<HttpResponse, ProductError> {
    Ok(HttpResponse::Ok().json(json!({ "categories": catalogue.categories().await? })))
}

fn parse_listing(query: &HashMap<String, String>) -> Result<(Filter, i64, Option<Uuid>), ProductError> {
    let mut filter = Filter::default();
    let mut page_size = DEFAULT_PAGE_SIZE;
    let mut after = None;
    for (key, value) in query {
        match key.as_str() {
            "category" => {
                filter.category = Some(value.parse().map_err(|_| ProductError::invalid("category", "is not a UUID"))?)
            }
            "q" => {
                if value.chars().count() > 100 {
                    return Err(ProductError::invalid("q", "is longer than 100 characters"));
                }
                if value.chars().any(char::is_control) {
                    return Err(ProductError::invalid("q", "may not contain control characters"));
                }
                filter.text = Some(value.trim().to_owned()).filter(|t| !t.is_empty());
            }
            "min_price" => filter.min_price_minor = Some(price("min_price", value)?),
            "max_price" => filter.max_price_minor = Some(price("max_price", value)?),
            "in_stock" => {
                filter.in_stock =
                    value.parse().map_err(|_| ProductError::invalid("in_stock", "must be true or false"))?
            }
            "page_size" => {
                page_size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| ProductError::invalid("page_size", format!("must be 1 to {MAX_PAGE_SIZE}")))?
            }
            "page_token" => after = Some(decode_token(value)?),
            other => match other.strip_prefix("attr.") {
                Some(name) if !name.is_empty() && name.len() <= 64 => {
                    if name.contains('\0') || value.contains('\0') {
                        return Err(ProductError::invalid("query", "attribute filters may not contain NUL characters"));
                    }
                    filter.attributes.push((name.to_owned(), Value::String(value.clone())))
                }
                _ => return Err(ProductError::invalid("query", format!("{other:?} is not a filter of this listing"))),
            },
        }
    }
    if let (Some(min), Some(max)) = (filter.min_price_minor, filter.max_price_minor) {
        if min > max {
            return Err(ProductError::invalid("min_price", "is above max_price"));
        }
    }
    Ok((filter, page_size, after))
}

fn price(name: &'static str, value: &str) -> Result<i64, ProductError> {
    value
        .parse()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| ProductError::invalid(name, "must be a non-negative integer (minor units)"))
}

/// A product id from the path.
pub fn parse_id(id: &str) -> Result<Uuid, ProductError> {
    id.parse().map_err(|_| ProductError::invalid("id", "is not a UUID"))
}

/// The product's ETag: its version, which changes with every change, stock included.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// What admins see: the public view plus the stock figures behind `available`.
pub fn to_admin_json(product: ProductRow) -> Value {
    let (on_hand, reserved) = (product.on_hand, product.reserved);
    let mut json = to_json(product);
    json["on_hand"] = on_hand.into();
    json["reserved"] = reserved.into();
    json
}

pub fn to_json(product: ProductRow) -> Value {
    json!({
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category_id": product.category_id,
        "price": { "amount_minor": product.price_minor, "currency": product.currency },
        "available": product.available(),
        "attributes": product.attributes,
        "version": product.version,
        "updated_at": product.updated_at,
    })
}
