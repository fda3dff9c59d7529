pub mod cli;
pub mod configuration;
pub mod db;
pub mod grpc;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod proto;
pub mod readiness;
pub mod startup;
pub mod telemetry;

/// The name this service reports in logs, traces, metrics and event envelopes.
pub const SERVICE_NAME: &str = "payment-service";
