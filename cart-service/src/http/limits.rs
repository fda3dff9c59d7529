//! Bounds on what a request may carry before any handler runs. Bodies are bounded by each
//! extractor's configuration (`MAX_BODY`); headers here: a token and the usual headers fit in
//! a few KiB, and a client sending more is refused with 431 instead of costing memory per request.
use super::views::ErrorBody;
use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
    Error, HttpResponse,
};

/// Names and values of all request headers together, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub async fn limit_request_headers<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let size: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > MAX_HEADER_BYTES {
        let body = ErrorBody::new(
            "headers_too_large",
            format!("the request headers hold {size} bytes; at most {MAX_HEADER_BYTES} are accepted"),
        );
        let response = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).json(body);
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
