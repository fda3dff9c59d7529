//! One integration-test binary (link time is paid once). Every test starts the real service
//! on port 0 against the real Redis and the real broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cart;
mod checkout;
mod events;
mod health;
mod helpers;
mod kafka;
mod kafka_producer;
mod openapi;
mod process;
mod replicas;
mod store;
mod tokens;
