//! Probes and metrics: `/healthz` (the process answers), `/readyz` (its own dependencies
//! answer), `/metrics` (Prometheus).
use super::views::{Health, Readiness as ReadinessBody};
use crate::{metrics::Metrics, readiness::Readiness};
use actix_web::{get, http::header::ContentType, web, HttpResponse};

#[utoipa::path(tag = "operations", responses((status = 200, description = "The process answers", body = Health)))]
#[get("/healthz")]
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "The database and the broker answer", body = ReadinessBody),
    (status = 503, description = "A dependency does not answer; `checks` names it", body = ReadinessBody),
))]
#[get("/readyz")]
pub(super) async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let report = readiness.report().await;
    let mut response = if report.ready { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    if !report.ready {
        response.insert_header(("Retry-After", "5"));
    }
    response.json(ReadinessBody::from(report))
}

#[get("/metrics")]
pub(super) async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType(mime_text_plain_v004())).body(metrics.render())
}

/// The content type Prometheus expects for its text format.
fn mime_text_plain_v004() -> actix_web::mime::Mime {
    "text/plain; version=0.0.4; charset=utf-8".parse().unwrap_or(actix_web::mime::TEXT_PLAIN_UTF_8)
}
