//! The gRPC server: this service's API, the standard health service and server reflection
//! (v1 and v1alpha, so grpcurl and older clients can list and call methods without protos).
mod callers;
mod error;
mod observe;

use callers::Workload;

use crate::{
    catalogue::Catalogue,
    domain::{ReservationId, ReservationLines, ReservationState},
    error::ProductError,
    metrics::Metrics,
    proto::{
        shop::{
            common::v1::Money,
            product::v1::{
                self as pb,
                product_service_server::{ProductService, ProductServiceServer},
            },
        },
        FILE_DESCRIPTOR_SET,
    },
    reservations::{self, Reservation, Reservations},
    store::products::ProductRow,
    tls::{self, ServerTls},
};
use anyhow::Context;
use std::{future::Future, sync::Arc};
use tokio::net::TcpListener;
use tonic::transport::Server;
use uuid::Uuid;

/// Catalogue reads and stock reservations for other services.
pub struct ProductGrpc {
    catalogue: Catalogue,
    reservations: Reservations,
}

impl ProductGrpc {
    pub fn new(catalogue: Catalogue, reservations: Reservations) -> Self {
        Self { catalogue, reservations }
    }
}

type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl ProductService for ProductGrpc {
    async fn get_product(&self, request: tonic::Request<pb::GetProductRequest>) -> Reply<pb::GetProductResponse> {
        callers::require(&request, "GetProduct", &[Workload::Cart])?;
        let product = self.catalogue.get(parse_id(&request.into_inner().product_id)?).await?;
        Ok(tonic::Response::new(pb::GetProductResponse { product: Some(to_proto(product)) }))
    }

    async fn batch_get_products(
        &self,
        request: tonic::Request<pb::BatchGetProductsRequest>,
    ) -> Reply<pb::BatchGetProductsResponse> {
        callers::require(&request, "BatchGetProducts", &[Workload::Cart])?;
        let requested = request.into_inner().product_ids;
        if requested.is_empty() || requested.len() > MAX_BATCH {
            return Err(ProductError::invalid("product_ids", format!("must have 1 to {MAX_BATCH} ids")).into());
        }
        let ids = requested.iter().map(|id| parse_id(id)).collect::<Result<Vec<_>, _>>()?;
        let found = self.catalogue.get_many(&ids).await?;
        let missing_ids = requested.into_iter().filter(|id| !found.iter().any(|p| p.id.to_string() == *id)).collect();
        Ok(tonic::Response::new(pb::BatchGetProductsResponse {
            products: found.into_iter().map(to_proto).collect(),
            missing_ids,
        }))
    }

    async fn reserve_stock(&self, request: tonic::Request<pb::ReserveStockRequest>) -> Reply<pb::ReserveStockResponse> {
        callers::require(&request, "ReserveStock", &[Workload::Cart])?;
        let request = request.into_inner();
        let lines: Vec<_> = request.lines.into_iter().map(|l| (l.product_id, l.quantity)).collect();
        let id = ReservationId::parse(&request.reservation_id)?;
        let lines = ReservationLines::parse(&lines)?;
        let reservation = self.reservations.reserve(&id, lines).await?;
        Ok(tonic::Response::new(pb::ReserveStockResponse { reservation: Some(reservation_proto(reservation)) }))
    }

    async fn commit_reservation(
        &self,
        request: tonic::Request<pb::CommitReservationRequest>,
    ) -> Reply<pb::CommitReservationResponse> {
        callers::require(&request, "CommitReservation", &[Workload::Cart])?;
        let request = request.into_inner();
        let id = ReservationId::parse(&request.reservation_id)?;
        let paid = request.paid.ok_or_else(|| ProductError::invalid("paid", "is required: what the payment took"))?;
        let reservation = self.reservations.commit(&id, &paid).await?;
        Ok(tonic::Response::new(pb::CommitReservationResponse { reservation: Some(reservation_proto(reservation)) }))
    }

    async fn release_reservation(
        &self,
        request: tonic::Request<pb::ReleaseReservationRequest>,
    ) -> Reply<pb::ReleaseReservationResponse> {
        callers::require(&request, "ReleaseReservation", &[Workload::Cart])?;
        let id = ReservationId::parse(&request.into_inner().reservation_id)?;
        let reservation = self.reservations.release(&id).await?;
        Ok(tonic::Response::new(pb::ReleaseReservationResponse { reservation: Some(reservation_proto(reservation)) }))
    }

    async fn get_reservation(
        &self,
        request: tonic::Request<pb::GetReservationRequest>,
    ) -> Reply<pb::GetReservationResponse> {
        callers::require(&request, "GetReservation", &[Workload::Payment])?;
        let id = ReservationId::parse(&request.into_inner().reservation_id)?;
        let reservation = self.reservations.get(&id).await?;
        Ok(tonic::Response::new(pb::GetReservationResponse { reservation: Some(reservation_proto(reservation)) }))
    }
}

/// Ids one BatchGetProducts call may ask for.
const MAX_BATCH: usize = 100;

fn parse_id(id: &str) -> Result<Uuid, ProductError> {
    id.parse().map_err(|_| ProductError::invalid("product_id", format!("{id:?} is not a UUID")))
}

fn to_proto(product: ProductRow) -> pb::Product {
    pb::Product {
        product_id: product.id.to_string(),
        available: product.available(),
        sku: product.sku,
        name: product.name,
        description: product.description,
        category_id: product.category_id.map(|c| c.to_string()).unwrap_or_default(),
        price: Some(Money { amount_minor: product.price_minor, currency: product.currency }),
        active: product.active,
        version: product.version,
        attributes_json: product.attributes.to_string(),
        updated_at: Some(std::time::SystemTime::from(product.updated_at).into()),
    }
}

fn reservation_proto(reservation: Reservation) -> pb::Reservation {
    let total = reservations::total(&reservation.lines);
    pb::Reservation {
        reservation_id: reservation.id,
        state: match reservation.state {
            ReservationState::Reserved => pb::ReservationState::Reserved,
            ReservationState::Committed => pb::ReservationState::Committed,
            ReservationState::Released => pb::ReservationState::Released,
            ReservationState::Expired => pb::ReservationState::Expired,
        } as i32,
        total: Some(total),
        lines: reservation
            .lines
            .iter()
            .map(|l| pb::ReservedLine {
                product_id: l.product_id.to_string(),
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: Some(reservations::line_price(l)),
            })
            .collect(),
        expires_at: Some(std::time::SystemTime::from(reservation.expires_at).into()),
    }
}

/// Serves mutual TLS (`tls`) on `listener` until `shutdown` resolves, then lets in-flight calls
/// finish. `reflection`: serve gRPC
/// server reflection (development only: `Settings::grpc_reflection`).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    metrics: Metrics,
    service: ProductGrpc,
    reflection: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ProductServiceServer<ProductGrpc>>().await;

    let mut served = vec![FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET];
    // Reflection hands the whole API to whoever reaches the port: a development aid only.
    let (reflection_v1, reflection_v1alpha) = if reflection {
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        served.extend([
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ]);
        (
            Some(reflection().build_v1().context("building gRPC reflection v1")?),
            Some(reflection().build_v1alpha().context("building gRPC reflection v1alpha")?),
        )
    } else {
        (None, None)
    };
    let methods = observe::MethodLabels::from_descriptor_sets(&served).context("reading the served methods")?;

    Server::builder()
        .layer(observe::layer(metrics, methods))
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(ProductServiceServer::new(service))
        .serve_with_incoming_shutdown(tls::incoming(listener, tls), shutdown)
        .await
        .context("the gRPC server failed")
}
