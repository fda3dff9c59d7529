//! Middleware for every HTTP request: a root span that continues the caller's trace
//! (W3C `traceparent`), an access log line, and the per-route Prometheus metrics.
use crate::{metrics::Metrics, telemetry};
use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::HeaderMap,
    middleware::Next,
    web, Error,
};
use std::time::Instant;
use tracing::{field::Empty, Instrument};

/// Probe routes log at debug level: they arrive every few seconds and say nothing new.
const QUIET_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics"];

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    // The route template, not the path, so that ids do not explode the metric's cardinality.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("http_request", http.method = %method, http.route = %route, trace_id = Empty);
    telemetry::adopt_remote_parent(&span, &HeaderCarrier(req.headers()));

    let result = next.call(req).instrument(span.clone()).await;

    let status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe_http(&method, &route, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if QUIET_ROUTES.contains(&route.as_str()) {
            tracing::debug!(status, latency_ms, "request served");
        } else {
            tracing::info!(status, latency_ms, "request served");
        }
    });
    result
}

/// Reads W3C trace-context headers out of actix's header map.
struct HeaderCarrier<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
