//! Logs and traces: JSON lines on stdout carrying the trace id, OTLP export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace-context propagation.
//!
//! A tracer provider is installed even without an exporter, so every request gets a real
//! trace id (taken from an incoming `traceparent` or generated) that the logs of all services
//! share.
use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::{TraceContextExt, TracerProvider as _},
    Context,
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider, Resource};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

/// Keeps the tracer provider alive; `shutdown` flushes spans not yet exported.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Blocks until the exporter has flushed: call it off the async runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("{}: flushing traces failed: {error}", crate::SERVICE_NAME);
        }
    }
}

pub fn init<W>(log_filter: &str, writer: W) -> anyhow::Result<Telemetry>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder().with_service_name(crate::SERVICE_NAME).build();
    let mut provider = SdkTracerProvider::builder().with_resource(resource);
    // Empty counts as unset, as the OpenTelemetry specification says (compose passes it empty).
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty()) {
        // OTLP over HTTP with the blocking client: the SDK's batch processor exports from its
        // own thread, where a tokio-based client would find no runtime.
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    global::set_tracer_provider(provider.clone());

    tracing_subscriber::registry()
        .with(EnvFilter::try_new(log_filter)?)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer(crate::SERVICE_NAME)))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer),
        )
        .try_init()?;
    Ok(Telemetry { provider })
}

/// Makes `span` a child of the remote context found in `carrier` (if any) and records its
/// trace id in the span's `trace_id` field, which every log line inside it then carries.
pub fn adopt_remote_parent(span: &Span, carrier: &dyn Extractor) {
    let parent = global::get_text_map_propagator(|p| p.extract(carrier));
    // An error only means no OpenTelemetry layer is installed (some unit tests): nothing to do.
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

/// Writes the current span's trace context into an outgoing carrier (HTTP or gRPC headers,
/// Kafka record headers).
pub fn inject_current(carrier: &mut dyn Injector) {
    let context: Context = Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&context, carrier));
}
