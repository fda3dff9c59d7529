//! The services product calls (gRPC clients): auth-service, for its session check.
pub mod auth;
mod channel;
mod tls;
