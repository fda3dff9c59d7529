//! One integration-test binary (link time is paid once). Every test starts the real service
//! on port 0 against a fresh PostgreSQL database of its own and the real broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod async_commit;
mod events;
mod grpc;
mod health;
mod helpers;
mod identity;
mod kafka;
mod kafka_producer;
mod malformed;
mod metrics;
mod migrations;
mod openapi;
mod pki;
mod prepared;
mod process;
mod relay_order;
mod throttle;
mod tokens;
