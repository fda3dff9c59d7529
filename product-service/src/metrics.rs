//! Prometheus metrics: request counts and latency histograms per HTTP route and gRPC method, the
//! outbox's backlog, background rounds and the database pool (`pool.rs`).
pub mod pool;

use crate::db::DbPool;
use prometheus::{Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Latency buckets in seconds, from 0.5 ms to 5 s.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    grpc_requests: IntCounterVec,
    grpc_duration: HistogramVec,
    tls_expiry: IntGauge,
    outbox_failures: IntCounterVec,
    outbox_unsent: Gauge,
    outbox_oldest_age: Gauge,
    background_rounds: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route template, method and status"),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let grpc_requests = IntCounterVec::new(
            Opts::new("grpc_requests_total", "gRPC requests by method and status code"),
            &["method", "code"],
        )?;
        let grpc_duration = HistogramVec::new(
            HistogramOpts::new("grpc_request_duration_seconds", "gRPC request latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(grpc_requests.clone()))?;
        registry.register(Box::new(grpc_duration.clone()))?;
        let tls_expiry = IntGauge::new(
            "tls_certificate_expiry_timestamp_seconds",
            "When the workload certificate this service serves and presents expires (Unix time)",
        )?;
        registry.register(Box::new(tls_expiry.clone()))?;
        let outbox_failures = IntCounterVec::new(
            Opts::new(
                "outbox_publish_failures_total",
                "Outbox relay rounds stopped at a row, by reason: refused (the broker will not take the \
                 record, e.g. the schema registry) or unavailable (not delivered in time)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(outbox_failures.clone()))?;
        // Both series exist from the start, at 0, so that the first refusal is an increase.
        for reason in [crate::events::relay::REFUSED, crate::events::relay::UNAVAILABLE] {
            outbox_failures.with_label_values(&[reason]);
        }
        let outbox_unsent = Gauge::new(
            "outbox_unsent_events",
            "Outbox rows not yet published (sampled every few seconds; NaN when the sample failed)",
        )?;
        registry.register(Box::new(outbox_unsent.clone()))?;
        let outbox_oldest_age = Gauge::new(
            "outbox_oldest_unsent_age_seconds",
            "How long the oldest unpublished outbox row has waited (0 when none waits, NaN when unknown)",
        )?;
        registry.register(Box::new(outbox_oldest_age.clone()))?;
        let background_rounds = IntCounterVec::new(
            Opts::new(
                "background_task_runs_total",
                "Rounds of a periodic background task, by task and outcome (ok, failed)",
            ),
            &["task", "outcome"],
        )?;
        registry.register(Box::new(background_rounds.clone()))?;
        for outcome in ["ok", "failed"] {
            background_rounds.with_label_values(&[crate::reservations::EXPIRY_TASK, outcome]);
        }
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            grpc_requests,
            grpc_duration,
            tls_expiry,
            outbox_failures,
            outbox_unsent,
            outbox_oldest_age,
            background_rounds,
        })
    }

    /// Exports the state of `pool` at each scrape (`pool.rs`).
    pub fn watch_pool(&self, pool: DbPool) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(pool::PoolGauges::new(pool)?))
    }

    /// The outbox's backlog as sampled last: rows waiting, and how long the oldest has waited
    /// (NaN for both when the sample failed).
    pub fn outbox_backlog(&self, unsent: f64, oldest_age_seconds: f64) {
        self.outbox_unsent.set(unsent);
        self.outbox_oldest_age.set(oldest_age_seconds);
    }

    /// One round of the periodic task `task`, done (`ok`) or failed.
    pub fn background_round(&self, task: &'static str, ok: bool) {
        self.background_rounds.with_label_values(&[task, if ok { "ok" } else { "failed" }]).inc();
    }

    /// An outbox relay round stopped at a row for `reason` (`events::relay::REFUSED`, …).
    pub fn outbox_publish_failed(&self, reason: &str) {
        self.outbox_failures.with_label_values(&[reason]).inc();
    }

    /// The workload certificate loaded last expires at `at` (alert well before it).
    pub fn tls_certificate_expires_at(&self, at: std::time::SystemTime) {
        let seconds = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.tls_expiry.set(i64::try_from(seconds).unwrap_or(i64::MAX));
    }

    /// `route` is a route template or `unmatched`, never a raw path; the method is mapped to a
    /// fixed set, so no request can add a series (each one costs memory until the process ends).
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        self.http_requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.http_duration.with_label_values(&[method, route]).observe(seconds);
    }

    /// `method` is a method this server serves or `unknown` (grpc/observe.rs), never a raw path.
    pub fn observe_grpc(&self, method: &str, code: &str, seconds: f64) {
        self.grpc_requests.with_label_values(&[method, code]).inc();
        self.grpc_duration.with_label_values(&[method]).observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics; an empty page is the fallback.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// The standard methods by name and anything else as `other`: the method is the client's to
/// choose, and HTTP allows any token there.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];
    STANDARD.into_iter().find(|known| *known == method).unwrap_or("other")
}
