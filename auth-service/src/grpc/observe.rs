//! A tower layer for every gRPC call: a root span that continues the caller's trace (from
//! the `traceparent` metadata), a log line, and per-method Prometheus metrics with the
//! status code. The code arrives in the response headers when a call fails before any
//! message ("trailers-only"), otherwise in the trailers at the end of the body, which is why
//! the body is wrapped. The method label is one this server serves or `unknown`: the path is
//! the client's to choose, and every label value is a series kept until the process ends.
use crate::{metrics::Metrics, telemetry};
use http_body::{Body, Frame, SizeHint};
use opentelemetry_http::HeaderExtractor;
use prost::Message;
use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
    time::Instant,
};
use tower::{Layer, Service};
use tracing::{field::Empty, Instrument, Span};

type Request = http::Request<tonic::body::Body>;

/// gRPC's UNKNOWN and CANCELLED status codes.
const CODE_UNKNOWN: &str = "2";
const CODE_CANCELLED: &str = "1";
/// The label of every call to a method this server does not serve.
const UNKNOWN_METHOD: &str = "unknown";

/// The full path (`/package.Service/Method`) of every method served, read from the protos'
/// descriptors so that a method added to a proto is labelled without a second list.
#[derive(Clone)]
pub struct MethodLabels(Arc<HashSet<String>>);

impl MethodLabels {
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut served = HashSet::new();
        for set in sets {
            for file in prost_types::FileDescriptorSet::decode(*set)?.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let service_name = service.name.unwrap_or_default();
                    for method in service.method {
                        let method_name = method.name.unwrap_or_default();
                        served.insert(match package.as_str() {
                            "" => format!("/{service_name}/{method_name}"),
                            package => format!("/{package}.{service_name}/{method_name}"),
                        });
                    }
                }
            }
        }
        Ok(Self(Arc::new(served)))
    }

    fn label(&self, path: &str) -> String {
        self.0.get(path).cloned().unwrap_or_else(|| UNKNOWN_METHOD.to_owned())
    }
}

#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Metrics,
    methods: MethodLabels,
}

pub fn layer(metrics: Metrics, methods: MethodLabels) -> ObserveLayer {
    ObserveLayer { metrics, methods }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: self.metrics.clone(), methods: self.methods.clone() }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Metrics,
    methods: MethodLabels,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ObservedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        let method = self.methods.label(path);
        let span = tracing::info_span!("grpc_request", rpc.method = %path, trace_id = Empty);
        telemetry::adopt_remote_parent(&span, &HeaderExtractor(req.headers()));
        let call = CallRecord {
            metrics: self.metrics.clone(),
            method,
            started: Instant::now(),
            span: span.clone(),
            finished: false,
        };
        let response = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                match response.await {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        let pending = match parts.headers.get("grpc-status").and_then(|v| v.to_str().ok()) {
                            Some(code) => {
                                call.finish(code);
                                None
                            }
                            None => Some(call),
                        };
                        Ok(http::Response::from_parts(parts, ObservedBody { inner: body, call: pending }))
                    }
                    Err(error) => {
                        call.finish(CODE_UNKNOWN);
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

/// One call's bookkeeping, finished exactly once: by the status code, or on drop (the client
/// went away before the end of the stream).
struct CallRecord {
    metrics: Metrics,
    method: String,
    started: Instant,
    span: Span,
    finished: bool,
}

impl CallRecord {
    fn finish(mut self, code: &str) {
        self.record(code);
    }

    fn record(&mut self, code: &str) {
        self.finished = true;
        let latency = self.started.elapsed().as_secs_f64();
        self.metrics.observe_grpc(&self.method, code, latency);
        self.span.in_scope(|| tracing::info!(grpc.code = code, latency_ms = latency * 1000.0, "call served"));
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if !self.finished {
            self.record(CODE_CANCELLED);
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<CallRecord>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let code = match &frame {
            Some(Ok(frame)) => {
                frame.trailers_ref().map(|t| t.get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or(CODE_UNKNOWN))
            }
            Some(Err(_)) => Some(CODE_UNKNOWN),
            None => Some(CODE_UNKNOWN),
        };
        if let Some(code) = code {
            if let Some(call) = this.call.take() {
                call.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
