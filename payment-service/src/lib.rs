pub mod auth;
pub mod cli;
pub mod compensation;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod gateway;
pub mod grpc;
pub mod healthcheck;
pub mod http;
pub mod idempotency;
pub mod kafka;
pub mod metrics;
pub mod payments;
pub mod proto;
pub mod readiness;
pub mod reconciler;
pub mod schema;
pub mod settlement;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhooks;

/// The name this service reports in logs, traces, metrics and event envelopes.
pub const SERVICE_NAME: &str = "payment-service";
