//! Clients of the services cart calls over gRPC. Every call carries a deadline and the
//! caller's W3C trace context, so one checkout is one trace across the platform.
use crate::{
    configuration::UpstreamSettings,
    metrics::Metrics,
    proto::shop::{
        auth::v1::auth_service_client::AuthServiceClient, payment::v1::payment_service_client::PaymentServiceClient,
        product::v1::product_service_client::ProductServiceClient,
    },
    telemetry,
};
use discovery::Discovery;
pub use discovery::Target;
use opentelemetry::propagation::Injector;
use prometheus::IntCounter;
use std::{future::Future, net::SocketAddr, time::Duration};
use tonic::{
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    service::{interceptor::InterceptedService, Interceptor},
    transport::{Channel, Endpoint},
    Code, Status,
};

mod auth;
mod discovery;
pub mod reason;
pub mod refusals;
mod tls;

use anyhow::Context;
use std::sync::Arc;
use tls::ClientIdentity;

/// Changes of the replica set queued for a balancer, which takes them only while calls are made:
/// room for a whole headless Service's worth of replicas coming and going while cart is idle.
const BALANCER_QUEUE: usize = 1024;

pub type ProductClient = ProductServiceClient<InterceptedService<Channel, PropagateTrace>>;
pub type PaymentClient = PaymentServiceClient<InterceptedService<Channel, PropagateTrace>>;
pub type AuthClient = AuthServiceClient<InterceptedService<Channel, PropagateTrace>>;

#[derive(Clone)]
pub struct Upstream {
    pub product: Balanced<ProductClient>,
    pub payment: Balanced<PaymentClient>,
    /// auth's session check at checkout (`Upstream::session_is_active`).
    auth: Balanced<AuthClient>,
    /// cart's client identity towards each, when they are dialled over `https://`.
    identities: Vec<Arc<ClientIdentity>>,
}

impl Upstream {
    /// Channels connect lazily: cart starts while product or payment are down, and a call
    /// made then fails with UNAVAILABLE within its deadline. Each balances over every replica
    /// its target resolves to (`discovery`).
    pub fn new(settings: &UpstreamSettings, metrics: &Metrics) -> anyhow::Result<Self> {
        let (product, product_replicas, product_identity) =
            balanced(PRODUCT, &settings.product_grpc_url, settings, metrics)?;
        let (payment, payment_replicas, payment_identity) =
            balanced(PAYMENT, &settings.payment_grpc_url, settings, metrics)?;
        let (auth, auth_replicas, auth_identity) = balanced(AUTH, &settings.auth_grpc_url, settings, metrics)?;
        Ok(Self {
            identities: product_identity.into_iter().chain(payment_identity).chain(auth_identity).collect(),
            product: Balanced {
                service: PRODUCT,
                client: ProductServiceClient::with_interceptor(product, PropagateTrace),
                replicas: product_replicas,
                timeout: settings.timeout,
                retries: metrics.upstream_retries(PRODUCT),
            },
            payment: Balanced {
                service: PAYMENT,
                client: PaymentServiceClient::with_interceptor(payment, PropagateTrace),
                replicas: payment_replicas,
                timeout: settings.timeout,
                retries: metrics.upstream_retries(PAYMENT),
            },
            auth: Balanced {
                service: AUTH,
                client: AuthServiceClient::with_interceptor(auth, PropagateTrace),
                replicas: auth_replicas,
                timeout: settings.timeout,
                retries: metrics.upstream_retries(AUTH),
            },
        })
    }
}

impl Upstream {
    /// For readiness: an error once the certificate cart presents expires within `margin`.
    pub fn check_identity(&self, margin: Duration) -> anyhow::Result<()> {
        self.identities.iter().try_for_each(|identity| identity.check_validity(margin))
    }
}

const PRODUCT: &str = "product-service";
const PAYMENT: &str = "payment-service";
const AUTH: &str = "auth-service";

/// A client of every replica of one service.
#[derive(Clone)]
pub struct Balanced<C> {
    service: &'static str,
    client: C,
    replicas: Discovery,
    timeout: Duration,
    retries: IntCounter,
}

impl<C: Clone> Balanced<C> {
    /// Makes `call` with a clone of the client, within the call timeout (with no replica
    /// reachable the balancer would wait for one). A call that got no server's answer (a
    /// replica died, refused the connection, or cut it) is made once more within the same
    /// deadline, after the replicas were looked at again, so it goes to one still there. Every
    /// call cart makes is safe to repeat: reads, and writes keyed by the checkout's id
    /// (README, "What is retried").
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        // With no replica in rotation the balancer would hold the call until its deadline: look
        // again now (a replica that started after the last round joins), and with still none,
        // fail at once, before anything was sent.
        if self.replicas.is_empty() {
            self.replicas.refresh().await;
            if self.replicas.is_empty() {
                return Err(Status::unavailable(format!("no replica of {} accepts connections", self.service)));
            }
        }
        let attempts = async {
            match call(self.client.clone()).await {
                Err(status) if is_transport_failure(&status) => {
                    tracing::debug!(service = self.service, error = %status, "a replica did not answer; trying another");
                    self.replicas.refresh().await;
                    if self.replicas.is_empty() {
                        return Err(status); // the one there was is gone: nothing to try
                    }
                    self.retries.inc();
                    call(self.client.clone()).await
                }
                answer => answer,
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(answer) => answer.map(tonic::Response::into_inner),
            Err(_) => Err(Status::unavailable(format!(
                "no replica of {} answered within {} ms",
                self.service,
                self.timeout.as_millis()
            ))),
        }
    }

    /// `call` with a request that each attempt sends a copy of.
    pub async fn send<R, T, F, Fut>(&self, request: &R, call: F) -> Result<T, Status>
    where
        R: Clone,
        F: Fn(C, R) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call(|client| call(client, request.clone())).await
    }
}

/// Calls made on a shopper's behalf carry their access token as `authorization`, so the called
/// service decides as that shopper (payment sees only their payments).
pub struct OnBehalfOf(MetadataValue<tonic::metadata::Ascii>);

impl OnBehalfOf {
    /// `None` for a token that cannot be a header value.
    pub fn new(token: &str) -> Option<Self> {
        format!("Bearer {token}").parse().ok().map(Self)
    }

    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", self.0.clone());
        request
    }
}

/// Whether the call got no server's answer: the error was raised on this side (connection
/// refused, reset or closed before the answer), which is what tonic's transport errors carry as
/// their source. A status a server sent carries none, whatever its code: a server that answers
/// UNAVAILABLE has had its say and is not asked twice. A call cut mid-way may have been done by
/// the replica that died, which is why only idempotent calls go through here. Deadlines and
/// cancellations are not repeated: the caller's time is spent.
fn is_transport_failure(status: &Status) -> bool {
    !matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled) && std::error::Error::source(status).is_some()
}

fn balanced(
    service: &'static str,
    list: &str,
    settings: &UpstreamSettings,
    metrics: &Metrics,
) -> anyhow::Result<(Channel, Discovery, Option<Arc<ClientIdentity>>)> {
    let targets = Target::parse_list(list).map_err(|e| anyhow::anyhow!("the gRPC target of {service}: {e}"))?;
    // The identity files must be there at start when an https:// target is named; they are
    // looked at again every round of the discovery (a rotation).
    let identity = match targets.iter().any(|t| t.tls) {
        true => {
            Some(Arc::new(ClientIdentity::load(&settings.tls_dir, service).context("loading cart's TLS identity")?))
        }
        false => None,
    };
    let (renewing, held) = (identity.clone(), identity.clone());
    let renewed = move || renewing.as_ref().is_some_and(|identity| identity.renewed());
    let (channel, changes) = Channel::balance_channel(BALANCER_QUEUE);
    let timeout = settings.timeout;
    let endpoint = move |target: &Target, address: SocketAddr| {
        let endpoint = Endpoint::from_shared(format!("{}://{address}", target.scheme())).ok()?;
        let endpoint = match (&identity, target.tls) {
            (Some(identity), true) => endpoint.tls_config(identity.current()).ok()?,
            _ => endpoint,
        };
        // Calls name the target they were configured with (`:authority`), not the replica's
        // address.
        let endpoint = match target.origin().parse() {
            Ok(origin) => endpoint.origin(origin),
            Err(_) => endpoint,
        };
        Some(endpoint.connect_timeout(timeout).timeout(timeout))
    };
    let replicas = metrics.upstream_replicas(service);
    let discovery = Discovery::spawn(targets, settings.resolve_interval, changes, endpoint, renewed, replicas);
    Ok((channel, discovery, held))
}

/// Writes the current span's `traceparent` into each outgoing call's metadata.
#[derive(Clone, Copy, Debug, Default)]
pub struct PropagateTrace;

impl Interceptor for PropagateTrace {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        telemetry::inject_current(&mut MetadataCarrier(request.metadata_mut()));
        Ok(request)
    }
}

struct MetadataCarrier<'a>(&'a mut MetadataMap);

impl Injector for MetadataCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Once;

    static TELEMETRY: Once = Once::new();

    #[test]
    fn outgoing_calls_carry_the_current_trace() {
        TELEMETRY.call_once(|| std::mem::forget(telemetry::init("info", std::io::sink).unwrap()));
        let incoming = "00-4bf92f3577b34ca9a2f1c6a3f8d2e0b1-00f067aa0ba902b7-01";
        let span = tracing::info_span!("http_request", trace_id = tracing::field::Empty);
        telemetry::adopt_remote_parent(
            &span,
            &std::collections::HashMap::from([("traceparent".to_owned(), incoming.to_owned())]),
        );

        let request = span.in_scope(|| PropagateTrace.call(tonic::Request::new(()))).unwrap();
        let traceparent = request.metadata().get("traceparent").unwrap().to_str().unwrap();
        // Same trace, a new span id (this service's span), sampled.
        assert!(traceparent.starts_with("00-4bf92f3577b34ca9a2f1c6a3f8d2e0b1-"), "{traceparent}");
        assert!(!traceparent.contains("00f067aa0ba902b7"), "{traceparent}");
    }

    #[tokio::test]
    async fn an_https_target_needs_carts_identity_and_a_plain_one_does_not() {
        let metrics = Metrics::new().unwrap();
        let mut settings = crate::configuration::Settings::from_vars(Vec::new()).unwrap().upstream;
        settings.tls_dir = "/nonexistent/tls".into();
        let error = Upstream::new(&settings, &metrics).err().expect("no identity to present");
        assert!(format!("{error:#}").contains("TLS identity in /nonexistent/tls"), "{error:#}");
        settings.product_grpc_url = "http://127.0.0.1:50052".to_owned();
        settings.payment_grpc_url = "http://127.0.0.1:50054".to_owned();
        settings.auth_grpc_url = "http://127.0.0.1:50051".to_owned();
        assert!(Upstream::new(&settings, &metrics).is_ok(), "plain text reads no files");
    }

    #[test]
    fn without_a_trace_nothing_is_invented() {
        let request = PropagateTrace.call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("traceparent").is_none());
    }
}
