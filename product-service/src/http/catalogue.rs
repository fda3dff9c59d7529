//! The public catalogue API: `GET /v1/products`, `GET /v1/products/{id}`, `GET /v1/categories`.
use super::views::{Categories, Category, ErrorBody, Product, ProductPage};
use crate::{
    cache::{CachedProduct, ProductCache},
    catalogue::{decode_token, Catalogue, Filter, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    error::ProductError,
};
use actix_web::{get, http::header, web, HttpRequest, HttpResponse};
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
    params(
        ("category" = Option<String>, Query, format = "uuid", description = "Only this category."),
        ("q" = Option<String>, Query, max_length = 100, description = "Text in the product's name (at most 100 characters)."),
        ("min_price" = Option<i64>, Query, minimum = 0, description = "Lowest price, minor units."),
        ("max_price" = Option<i64>, Query, minimum = 0, description = "Highest price, minor units."),
        ("in_stock" = Option<bool>, Query, description = "Only products with units available."),
        ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100; 20 when absent."),
        ("page_token" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{21}[AQgw]$",
            description = "From the previous page's `next_page_token` (base64url of 16 bytes)."),
    ),
    responses(
        (status = 200, description = "A page of active products, by id", body = ProductPage),
        (status = 400, description = "A bad filter, page size or page token", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = ErrorBody),
    )
)]
#[get("/v1/products")]
async fn list_products(
    catalogue: web::Data<Catalogue>,
    cache: web::Data<ProductCache>,
    query: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ProductError> {
    let (filter, page_size, after) = parse_listing(&query)?;
    // Keyed by the query string as sent, once it is known to be valid: a page is a function of
    // it (another spelling of the same query is only another entry).
    let body = match cache.page(req.query_string()) {
        Some(body) => body,
        None => {
            let page = catalogue.list(&filter, page_size, after).await?;
            let page = ProductPage {
                products: page.products.into_iter().map(Product::from).collect(),
                next_page_token: page.next_page_token,
            };
            let body: bytes::Bytes = serde_json::to_vec(&page).map_err(anyhow::Error::from)?.into();
            cache.put_page(req.query_string(), body.clone());
            body
        }
    };
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

#[utoipa::path(
    tag = "catalogue",
    params(
        ("id" = String, Path, format = "uuid", description = "The product id"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier read"),
    ),
    responses(
        (status = 200, description = "The product; its ETag is its version", body = Product,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such product, or it left the catalogue", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
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
                body: serde_json::to_vec(&Product::from(product)).map_err(anyhow::Error::from)?.into(),
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
        (status = 200, description = "Every category, by name", body = Categories),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
#[get("/v1/categories")]
async fn list_categories(catalogue: web::Data<Catalogue>) -> Result<HttpResponse, ProductError> {
    let categories = catalogue.categories().await?.into_iter().map(Category::from).collect();
    Ok(HttpResponse::Ok().json(Categories { categories }))
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
                    filter.attributes.push((name.to_owned(), serde_json::Value::String(value.clone())))
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
