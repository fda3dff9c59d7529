//! The services payment calls (gRPC clients): product-service, for the sweeper.
pub mod product;
mod tls;
