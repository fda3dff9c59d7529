pub mod admin;
pub mod auth;
pub mod cache;
pub mod catalogue;
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
pub mod proto;
pub mod readiness;
pub mod reservations;
pub mod schema;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;

/// The name this service reports in logs, traces, metrics and event envelopes.
pub const SERVICE_NAME: &str = "product-service";
