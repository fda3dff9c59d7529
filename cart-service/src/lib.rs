pub mod auth;
pub mod carts;
pub mod checkout;
pub mod cli;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod events;
pub mod healthcheck;
pub mod http;
pub mod kafka;
pub mod kafka_producer;
pub mod metrics;
pub mod proto;
pub mod readiness;
pub mod redis_store;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;

/// The name this service reports in logs, traces, metrics and event envelopes.
pub const SERVICE_NAME: &str = "cart-service";
