//! Prometheus metrics: request counts and latency histograms per HTTP route and gRPC method, the
//! outbox's backlog, the consumer's lag and dead letters, background rounds, pending payments
//! and the database pool (`pool.rs`).
pub mod pool;

use crate::db::DbPool;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from 0.5 ms to 5 s.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    grpc_requests: IntCounterVec,
    grpc_duration: HistogramVec,
    assigned_partitions: IntGauge,
    sale_checks: IntCounterVec,
    tls_expiry: IntGauge,
    outbox_failures: IntCounterVec,
    outbox_unsent: Gauge,
    outbox_oldest_age: Gauge,
    consumer_lag: GaugeVec,
    dead_lettered: IntCounterVec,
    background_rounds: IntCounterVec,
    oldest_pending_age: Gauge,
    max_pending_age: Gauge,
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
        let assigned_partitions = IntGauge::new(
            "kafka_consumer_assigned_partitions",
            "Partitions the event consumer holds in its group now (0 while it joins or rebalances)",
        )?;
        registry.register(Box::new(assigned_partitions.clone()))?;
        let sale_checks = IntCounterVec::new(
            Opts::new("payment_sale_checks_total", "The sweeper's answers about paid orders, by verdict"),
            &["verdict"],
        )?;
        registry.register(Box::new(sale_checks.clone()))?;
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
        let consumer_lag = GaugeVec::new(
            Opts::new(
                "kafka_consumer_lag_messages",
                "Records past the group's committed offset in the partitions the event consumer holds, by \
                 topic (NaN when the broker did not answer the last sample)",
            ),
            &["topic"],
        )?;
        registry.register(Box::new(consumer_lag.clone()))?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "events_dead_lettered_total",
                "Records parked in the dead-letter topic, by the topic they came from",
            ),
            &["topic"],
        )?;
        registry.register(Box::new(dead_lettered.clone()))?;
        let background_rounds = IntCounterVec::new(
            Opts::new(
                "background_task_runs_total",
                "Rounds of a periodic background task, by task and outcome (ok, failed)",
            ),
            &["task", "outcome"],
        )?;
        registry.register(Box::new(background_rounds.clone()))?;
        for task in [crate::reconciler::TASK, crate::sweeper::TASK] {
            for outcome in ["ok", "failed"] {
                background_rounds.with_label_values(&[task, outcome]);
            }
        }
        let oldest_pending_age = Gauge::new(
            "payment_oldest_pending_age_seconds",
            "How long the oldest payment still pending has been (0 when none is)",
        )?;
        registry.register(Box::new(oldest_pending_age.clone()))?;
        let max_pending_age = Gauge::new(
            "payment_max_pending_age_seconds",
            "The reconciler's maximum pending age: a payment pending longer is cancelled at the gateway",
        )?;
        registry.register(Box::new(max_pending_age.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            grpc_requests,
            grpc_duration,
            assigned_partitions,
            sale_checks,
            tls_expiry,
            outbox_failures,
            outbox_unsent,
            outbox_oldest_age,
            consumer_lag,
            dead_lettered,
            background_rounds,
            oldest_pending_age,
            max_pending_age,
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

    /// The event consumer subscribed to `topic`: its lag and dead-letter series exist from now
    /// on, at 0, so the first dead letter is an increase.
    pub fn consuming(&self, topic: &str) {
        self.consumer_lag.with_label_values(&[topic]).set(0.0);
        self.dead_lettered.with_label_values(&[topic]);
    }

    /// The consumer's lag on `topic` (`events::lag`), NaN when unknown.
    pub fn set_consumer_lag(&self, topic: &str, lag: f64) {
        self.consumer_lag.with_label_values(&[topic]).set(lag);
    }

    /// A record of `topic` was parked in its dead-letter topic.
    pub fn dead_lettered(&self, topic: &str) {
        self.dead_lettered.with_label_values(&[topic]).inc();
    }

    /// One round of the periodic task `task`, done (`ok`) or failed.
    pub fn background_round(&self, task: &'static str, ok: bool) {
        self.background_rounds.with_label_values(&[task, if ok { "ok" } else { "failed" }]).inc();
    }

    /// The oldest pending payment's age as sampled last (0 for none, NaN when unknown).
    pub fn oldest_pending_payment(&self, age_seconds: f64) {
        self.oldest_pending_age.set(age_seconds);
    }

    /// The reconciler's maximum pending age, which the pending-age alert compares against.
    pub fn set_max_pending_age(&self, age: std::time::Duration) {
        self.max_pending_age.set(age.as_secs_f64());
    }

    /// One paid order looked at by the sweeper: `sold`, `held`, `refunded_released`,
    /// `refunded_other_sale`, `refunded_no_reservation` or `unknown`.
    pub fn observe_sale_check(&self, verdict: &'static str) {
        self.sale_checks.with_label_values(&[verdict]).inc();
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

    /// The event consumer's current assignment: the signal that it consumes again after a
    /// restart or a rebalance.
    pub fn set_assigned_partitions(&self, count: usize) {
        self.assigned_partitions.set(i64::try_from(count).unwrap_or(i64::MAX));
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
