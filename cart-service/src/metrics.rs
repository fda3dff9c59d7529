//! Prometheus metrics: request counts and latency histograms per HTTP route and gRPC method.
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
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
    upstream_replicas: IntGaugeVec,
    upstream_retries: IntCounterVec,
    consumer_lag: GaugeVec,
    dead_lettered: IntCounterVec,
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
        let upstream_replicas = IntGaugeVec::new(
            Opts::new("upstream_replicas", "Replicas of a called service that calls are balanced over now"),
            &["service"],
        )?;
        registry.register(Box::new(upstream_replicas.clone()))?;
        let upstream_retries = IntCounterVec::new(
            Opts::new("upstream_retries_total", "Calls made again on another replica after none answered"),
            &["service"],
        )?;
        registry.register(Box::new(upstream_retries.clone()))?;
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
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            grpc_requests,
            grpc_duration,
            assigned_partitions,
            upstream_replicas,
            upstream_retries,
            consumer_lag,
            dead_lettered,
        })
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

    /// The gauge of the replicas of `service` (product-service, payment-service) in rotation.
    pub fn upstream_replicas(&self, service: &str) -> IntGauge {
        self.upstream_replicas.with_label_values(&[service])
    }

    /// The counter of calls to `service` repeated on another replica.
    pub fn upstream_retries(&self, service: &str) -> IntCounter {
        self.upstream_retries.with_label_values(&[service])
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
