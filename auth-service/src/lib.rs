pub mod accounts;
pub mod cli;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod healthcheck;
pub mod http;
pub mod kafka;
pub mod kafka_producer;
pub mod metrics;
pub mod passwords;
pub mod proto;
pub mod readiness;
pub mod schema;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;

/// The name this service reports in logs, traces, metrics and event envelopes.
pub const SERVICE_NAME: &str = "auth-service";
