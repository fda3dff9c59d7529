//! The gRPC server: this service's API, the standard health service and server reflection
//! (v1 and v1alpha, so grpcurl and older clients can list and call methods without protos).
mod observe;

use crate::{
    metrics::Metrics,
    proto::{
        shop::payment::v1::payment_service_server::{PaymentService, PaymentServiceServer},
        FILE_DESCRIPTOR_SET,
    },
};
use anyhow::Context;
use std::future::Future;
use tokio::net::TcpListener;
use tonic::transport::{server::TcpIncoming, Server};

/// Charges, refunds and their look-ups come with the payments work; until then the generated
/// defaults answer UNIMPLEMENTED.
#[derive(Debug, Default)]
pub struct PaymentGrpc;

#[tonic::async_trait]
impl PaymentService for PaymentGrpc {}

/// Serves until `shutdown` resolves, then lets in-flight calls finish.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<PaymentServiceServer<PaymentGrpc>>().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("building gRPC reflection v1")?;
    let reflection_v1alpha = reflection().build_v1alpha().context("building gRPC reflection v1alpha")?;

    Server::builder()
        .layer(observe::layer(metrics))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PaymentServiceServer::new(PaymentGrpc))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
        .context("the gRPC server failed")
}
