//! Security headers on every REST response, errors included. The API answers JSON, also to
//! browsers: nothing it sends may be sniffed as another type, framed, leak the page it was
//! called from, or sit in a shared cache unless the handler set its own Cache-Control.
use actix_web::middleware::DefaultHeaders;

/// Added to a response only where the handler did not set the header itself.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"))
        .add(("Referrer-Policy", "no-referrer"))
        // Honoured only over HTTPS, i.e. behind the TLS-terminating ingress.
        .add(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        .add(("Cache-Control", "no-store"))
}
