//! Mutual TLS on the gRPC port: this service's workload certificate, the platform CA that
//! callers' certificates must chain to, reloaded when the files change (a rotated certificate
//! takes effect without a restart), and the stream of accepted connections the gRPC server
//! serves. Who a caller is, and what it may call, is `grpc::callers`'s.
pub(crate) mod files;
mod incoming;
mod validity;

pub use files::ServerTls;
pub use incoming::incoming;
