//! The gRPC server: this service's API, the standard health service and server reflection
//! (v1 and v1alpha, so grpcurl and older clients can list and call methods without protos).
mod callers;
mod error;
mod observe;

use callers::Workload;

use crate::{
    auth::TokenVerifier,
    domain::{PaymentMethod, PaymentStatus},
    error::PaymentError,
    metrics::Metrics,
    payments::{
        ChargeInput, Payments, RefundInput, Requester, ValidCharge, ValidRefund, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
    },
    proto::{
        shop::payment::v1::{
            self as pb,
            payment_service_server::{PaymentService, PaymentServiceServer},
        },
        FILE_DESCRIPTOR_SET,
    },
    settlement::{self, money, Line},
    store::payments::PaymentRow,
    tls::{self, ServerTls},
};
use anyhow::Context;
use std::{future::Future, sync::Arc};
use tokio::net::TcpListener;
use tonic::transport::Server;

/// Charges, refunds and their look-ups, on behalf of the user whose token the caller forwards.
pub struct PaymentGrpc {
    payments: Payments,
    verifier: Arc<TokenVerifier>,
}

impl PaymentGrpc {
    pub fn new(payments: Payments, verifier: Arc<TokenVerifier>) -> Self {
        Self { payments, verifier }
    }

    /// The user id of the verified bearer token in the `authorization` metadata, once auth has
    /// confirmed its session is still active.
    async fn caller<T>(&self, request: &tonic::Request<T>) -> Result<String, PaymentError> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .map(|(_, token)| token.trim().to_owned())
            .ok_or(PaymentError::Unauthenticated)?;
        let claims = self.verifier.verify(&token).await?;
        self.verifier.confirm_session(&token).await?;
        // Payments are stored per user id, which auth issues as a UUID.
        claims.sub.parse::<uuid::Uuid>().map(|id| id.to_string()).map_err(|_| PaymentError::Unauthenticated)
    }
}

type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl PaymentService for PaymentGrpc {
    async fn charge(&self, request: tonic::Request<pb::ChargeRequest>) -> Reply<pb::ChargeResponse> {
        callers::require(&request, "Charge", &[Workload::Cart])?;
        let user_id = self.caller(&request).await?;
        let request = request.into_inner();
        let amount = request.amount.ok_or_else(|| PaymentError::invalid("amount", "is required"))?;
        let input = ChargeInput {
            idempotency_key: request.idempotency_key,
            order_id: request.order_id,
            amount_minor: amount.amount_minor,
            currency: amount.currency,
            payment_token: request.payment_token,
            lines: request
                .lines
                .into_iter()
                .map(|l| {
                    let price = l.unit_price.unwrap_or_default();
                    Line {
                        product_id: l.product_id,
                        name: l.name,
                        quantity: l.quantity,
                        unit_price_minor: price.amount_minor,
                        currency: price.currency,
                    }
                })
                .collect(),
            method: match pb::PaymentMethod::try_from(request.payment_method) {
                Ok(pb::PaymentMethod::Unspecified | pb::PaymentMethod::Card) => PaymentMethod::Card,
                Ok(pb::PaymentMethod::Paypal) => PaymentMethod::PayPal,
                Err(_) => {
                    return Err(PaymentError::invalid("payment_method", "is not a method this service knows").into())
                }
            },
        };
        let payment = self.payments.charge(&user_id, ValidCharge::parse(input)?).await?;
        Ok(tonic::Response::new(pb::ChargeResponse { payment: Some(to_proto(payment)) }))
    }

    async fn refund(&self, request: tonic::Request<pb::RefundRequest>) -> Reply<pb::RefundResponse> {
        callers::require(&request, "Refund", &[Workload::Cart])?;
        let user_id = self.caller(&request).await?;
        let request = request.into_inner();
        let amount = request.amount.ok_or_else(|| PaymentError::invalid("amount", "is required"))?;
        let input = RefundInput {
            idempotency_key: request.idempotency_key,
            payment_id: request.payment_id,
            amount_minor: amount.amount_minor,
            currency: amount.currency,
            reason: request.reason,
        };
        let (refund, payment) = self.payments.refund(&user_id, ValidRefund::parse(input)?, Requester::Owner).await?;
        Ok(tonic::Response::new(pb::RefundResponse {
            refund: Some(pb::Refund {
                refund_id: refund.id,
                payment_id: refund.payment_id,
                amount: Some(money(refund.amount_minor, &refund.currency)),
                reason: refund.reason,
                created_at: Some(timestamp(refund.created_at)),
            }),
            payment: Some(to_proto(payment)),
        }))
    }

    async fn get_payment(&self, request: tonic::Request<pb::GetPaymentRequest>) -> Reply<pb::GetPaymentResponse> {
        callers::require(&request, "GetPayment", &[Workload::Cart])?;
        let user_id = self.caller(&request).await?;
        let payment = self.payments.get(&user_id, &request.into_inner().payment_id).await?;
        Ok(tonic::Response::new(pb::GetPaymentResponse { payment: Some(to_proto(payment)) }))
    }

    async fn list_payments(&self, request: tonic::Request<pb::ListPaymentsRequest>) -> Reply<pb::ListPaymentsResponse> {
        callers::require(&request, "ListPayments", &[Workload::Cart])?;
        let user_id = self.caller(&request).await?;
        let request = request.into_inner();
        if !request.user_id.is_empty() && request.user_id != user_id {
            return Err(PaymentError::PermissionDenied.into());
        }
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if (1..=MAX_PAGE_SIZE).contains(&i64::from(n)) => i64::from(n),
            _ => return Err(PaymentError::invalid("page_size", format!("must be 0 to {MAX_PAGE_SIZE}")).into()),
        };
        let page = self.payments.list(&user_id, page_size, &request.page_token).await?;
        Ok(tonic::Response::new(pb::ListPaymentsResponse {
            payments: page.payments.into_iter().map(to_proto).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}

fn timestamp(at: chrono::NaiveDateTime) -> prost_types::Timestamp {
    std::time::SystemTime::from(at.and_utc()).into()
}

fn to_proto(payment: PaymentRow) -> pb::Payment {
    let status = match payment.status {
        PaymentStatus::Pending => pb::PaymentStatus::Pending,
        PaymentStatus::Succeeded => pb::PaymentStatus::Succeeded,
        PaymentStatus::Failed => pb::PaymentStatus::Failed,
        PaymentStatus::PartiallyRefunded => pb::PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded => pb::PaymentStatus::Refunded,
    };
    let lines = settlement::lines_of(&payment)
        .into_iter()
        .map(|l| pb::OrderLine {
            product_id: l.product_id,
            name: l.name,
            quantity: l.quantity,
            unit_price: Some(money(l.unit_price_minor, &l.currency)),
        })
        .collect();
    let method =
        if crate::approvals::is_paypal(&payment) { pb::PaymentMethod::Paypal } else { pb::PaymentMethod::Card };
    pb::Payment {
        // Only while the buyer has still to approve.
        approval_url: match payment.status {
            PaymentStatus::Pending => payment.approval_url.unwrap_or_default(),
            _ => String::new(),
        },
        payment_method: method as i32,
        amount: Some(money(payment.amount_minor, &payment.currency)),
        refunded: Some(money(payment.refunded_minor, &payment.currency)),
        status: status as i32,
        gateway_reference: payment.gateway_reference.unwrap_or_default(),
        failure_code: payment.failure_code.unwrap_or_default(),
        failure_message: payment.failure_message.unwrap_or_default(),
        lines,
        created_at: Some(timestamp(payment.created_at)),
        updated_at: Some(timestamp(payment.updated_at)),
        payment_id: payment.id,
        user_id: payment.user_id,
        order_id: payment.order_id,
        gateway: payment.gateway,
    }
}

/// Serves mutual TLS (`tls`) on `listener` until `shutdown` resolves, then lets in-flight calls
/// finish. `reflection`: serve gRPC
/// server reflection (development only: `Settings::grpc_reflection`).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    metrics: Metrics,
    service: PaymentGrpc,
    reflection: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<PaymentServiceServer<PaymentGrpc>>().await;

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
        .add_service(PaymentServiceServer::new(service))
        .serve_with_incoming_shutdown(tls::incoming(listener, tls), shutdown)
        .await
        .context("the gRPC server failed")
}
