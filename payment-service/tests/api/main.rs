//! One integration-test binary (link time is paid once). Every test starts the real service
//! on port 0 against a fresh MariaDB database of its own and the real broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod compensation;
mod grpc;
mod health;
mod helpers;
mod identity;
mod kafka;
mod kafka_producer;
mod late_money;
mod malformed;
mod metrics;
mod migrations;
mod openapi;
mod payment_calls;
mod payments;
mod paypal;
mod paypal_flow;
mod paypal_mock;
mod pki;
mod prepared;
mod process;
mod relay_order;
mod store;
mod stripe_followups;
mod stripe_mock;
mod support_refunds;
mod tokens;
