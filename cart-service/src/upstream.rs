//! Clients of the services cart calls over gRPC. Every call carries a deadline and the
//! caller's W3C trace context, so one checkout is one trace across the platform.
use crate::{
    configuration::UpstreamSettings,
    proto::shop::{
        payment::v1::payment_service_client::PaymentServiceClient,
        product::v1::product_service_client::ProductServiceClient,
    },
    telemetry,
};
use anyhow::Context;
use opentelemetry::propagation::Injector;
use tonic::{
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    service::{interceptor::InterceptedService, Interceptor},
    transport::{Channel, Endpoint},
};

pub type ProductClient = ProductServiceClient<InterceptedService<Channel, PropagateTrace>>;
pub type PaymentClient = PaymentServiceClient<InterceptedService<Channel, PropagateTrace>>;

#[derive(Clone)]
pub struct Upstream {
    pub product: ProductClient,
    pub payment: PaymentClient,
}

impl Upstream {
    /// Channels connect lazily: cart starts while product or payment are down, and a call
    /// made then fails with UNAVAILABLE within its deadline.
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        let product = channel(&settings.product_grpc_url, settings)?;
        let payment = channel(&settings.payment_grpc_url, settings)?;
        Ok(Self {
            product: ProductServiceClient::with_interceptor(product, PropagateTrace),
            payment: PaymentServiceClient::with_interceptor(payment, PropagateTrace),
        })
    }
}

fn channel(url: &str, settings: &UpstreamSettings) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("{url} is not a valid gRPC endpoint"))?
        .connect_timeout(settings.timeout)
        .timeout(settings.timeout)
        .connect_lazy())
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

    #[test]
    fn without_a_trace_nothing_is_invented() {
        let request = PropagateTrace.call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("traceparent").is_none());
    }
}
