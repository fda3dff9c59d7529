//! The services payment calls (gRPC clients): auth-service, for its session check, and
//! product-service, for the sweeper.
pub mod auth;
mod channel;
pub mod product;
mod tls;
