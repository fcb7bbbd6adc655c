//! OpenTelemetry for the services the original instruments with OpenTelemetry (PetSearch with
//! the Java agent, petlistadoptions with the Go SDK): spans, logs and process metrics exported
//! over OTLP/gRPC with the `opentelemetry` crates.
//!
//! - Trace ids are X-Ray-compatible (the first 4 bytes are the epoch seconds, as the X-Ray id
//!   generator of the original's SDKs makes them), and the parent comes from `X-Amzn-Trace-Id`
//!   or `traceparent`, so these spans join the X-Ray services' traces.
//! - Metrics (process CPU time and resident memory) are best effort: the exporter's failures
//!   are not logged (the SDK's internal logs are off), so a server without metrics ingest
//!   costs one refused request per interval and nothing else.

use std::borrow::Cow;
use std::time::Duration;

use fluoro_proto::{SegmentId, TraceId};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{IdGenerator, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::error::{DemoError, Result};
use crate::propagation::{new_segment_id, new_trace_id, TraceContext};

const SCOPE: &str = "fluoro-demo";

/// One service's OpenTelemetry pipeline; `shutdown` flushes what is buffered.
#[derive(Debug, Clone)]
pub(crate) struct Otel {
    tracer: SdkTracer,
    logger: SdkLogger,
    tracer_provider: SdkTracerProvider,
    logger_provider: SdkLoggerProvider,
    meter_provider: SdkMeterProvider,
}

/// X-Ray-compatible ids, as the original's `xray.NewIDGenerator()`.
#[derive(Debug)]
struct XrayIdGenerator;

impl IdGenerator for XrayIdGenerator {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        opentelemetry::trace::TraceId::from_bytes(new_trace_id().to_bytes())
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        opentelemetry::trace::SpanId::from_bytes(new_segment_id().to_bytes())
    }
}

impl Otel {
    /// Exporters to `endpoint` (`http://127.0.0.1:4317`). Must run inside a Tokio runtime: the
    /// gRPC channel lives on it.
    /// Process metrics are exported every `metrics_interval`.
    pub(crate) fn start(service_name: &'static str, endpoint: &str, metrics_interval: Duration) -> Result<Otel> {
        let resource = Resource::builder()
            .with_service_name(service_name)
            .with_attribute(KeyValue::new("telemetry.sdk.name", "opentelemetry"))
            .build();
        let export_error = |error: opentelemetry_otlp::ExporterBuildError| DemoError::Otel(error.to_string());
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(export_error)?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_id_generator(XrayIdGenerator)
            .with_resource(resource.clone())
            .build();
        let logs = opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(export_error)?;
        let logger_provider =
            SdkLoggerProvider::builder().with_batch_exporter(logs).with_resource(resource.clone()).build();
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(2))
            .build()
            .map_err(export_error)?;
        let reader =
            PeriodicReader::builder(metrics).with_interval(metrics_interval.max(Duration::from_millis(100))).build();
        let meter_provider = SdkMeterProvider::builder().with_reader(reader).with_resource(resource).build();
        register_process_metrics(&meter_provider);
        Ok(Otel {
            tracer: tracer_provider.tracer(SCOPE),
            logger: logger_provider.logger(SCOPE),
            tracer_provider,
            logger_provider,
            meter_provider,
        })
    }

    /// The server span of one incoming request.
    pub(crate) fn server_span(&self, name: &str, caller: Option<TraceContext>, attributes: Vec<KeyValue>) -> OSpan {
        let parent = match caller {
            Some(caller) => Context::new().with_remote_span_context(remote_span_context(caller)),
            None => Context::new(),
        };
        self.start_span(name, SpanKind::Server, attributes, &parent)
    }

    fn start_span(&self, name: &str, kind: SpanKind, attributes: Vec<KeyValue>, parent: &Context) -> OSpan {
        let span = self
            .tracer
            .span_builder(Cow::Owned(name.to_owned()))
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, parent);
        OSpan { otel: self.clone(), cx: parent.with_span(span) }
    }

    /// A log record, correlated with `span` when given, beside a JSON line on stderr.
    pub(crate) fn log(
        &self,
        span: Option<&OSpan>,
        severity: Severity,
        message: &str,
        attributes: Vec<(&'static str, AnyValue)>,
    ) {
        self.log_in(span.map(OSpan::context), severity, message, attributes);
        eprintln!("{}", serde_json::json!({"level": severity.name(), "msg": message}));
    }

    /// A log record in the trace and segment of `context` (an X-Ray service's segment, as a
    /// log agent forwards its correlated lines).
    pub(crate) fn log_in(
        &self,
        context: Option<TraceContext>,
        severity: Severity,
        message: &str,
        attributes: Vec<(&'static str, AnyValue)>,
    ) {
        let mut record = self.logger.create_log_record();
        record.set_body(AnyValue::from(message.to_owned()));
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_timestamp(std::time::SystemTime::now());
        if let Some(context) = context {
            let trace_id = opentelemetry::trace::TraceId::from_bytes(context.trace_id.to_bytes());
            let span_id = opentelemetry::trace::SpanId::from_bytes(context.parent_id.to_bytes());
            record.set_trace_context(trace_id, span_id, Some(TraceFlags::SAMPLED));
            record.add_attribute("xrayTraceId", context.trace_id.to_string());
        }
        for (key, value) in attributes {
            record.add_attribute(key, value);
        }
        self.logger.emit(record);
    }

    /// Sends the buffered log records now.
    pub(crate) fn flush_logs(&self) {
        let _ = self.logger_provider.force_flush();
    }

    pub(crate) fn shutdown(&self) {
        // Flushes the batches; failures (server already gone) are not worth a message.
        let _ = self.tracer_provider.shutdown();
        let _ = self.logger_provider.shutdown();
        let _ = self.meter_provider.shutdown();
    }
}

fn remote_span_context(caller: TraceContext) -> SpanContext {
    SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(caller.trace_id.to_bytes()),
        opentelemetry::trace::SpanId::from_bytes(caller.parent_id.to_bytes()),
        if caller.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() },
        true,
        TraceState::default(),
    )
}

/// A span being recorded, with the context its children and calls need.
#[derive(Debug, Clone)]
pub(crate) struct OSpan {
    otel: Otel,
    cx: Context,
}

impl OSpan {
    pub(crate) fn child(&self, name: &str, kind: SpanKind, attributes: Vec<KeyValue>) -> OSpan {
        self.otel.start_span(name, kind, attributes, &self.cx)
    }

    pub(crate) fn set(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// The response status; 5xx marks the span as failed, as the HTTP instrumentations do.
    pub(crate) fn http_status(&self, status: u16) {
        self.set(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            self.cx.span().set_status(Status::error(format!("HTTP {status}")));
        }
    }

    /// An exception event, as `span.recordException` writes it, and an error status.
    pub(crate) fn exception(&self, kind: &str, message: &str) {
        let span = self.cx.span();
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", kind.to_owned()),
                KeyValue::new("exception.message", message.to_owned()),
            ],
        );
        span.set_status(Status::error(message.to_owned()));
    }

    /// The context to propagate on a call this span makes.
    pub(crate) fn context(&self) -> TraceContext {
        let span = self.cx.span();
        let context = span.span_context();
        TraceContext {
            trace_id: TraceId::from_bytes(context.trace_id().to_bytes()),
            parent_id: SegmentId::from_bytes(context.span_id().to_bytes()),
            sampled: context.is_sampled(),
        }
    }

    pub(crate) fn end(&self) {
        self.cx.span().end();
    }
}

/// `process.cpu.time` (seconds) and `process.memory.usage` (resident bytes), read from /proc.
fn register_process_metrics(provider: &SdkMeterProvider) {
    let meter = provider.meter(SCOPE);
    let _cpu = meter
        .f64_observable_counter("process.cpu.time")
        .with_unit("s")
        .with_description("CPU time of the process, user and system")
        .with_callback(|observer| {
            if let Some(seconds) = crate::process::cpu_seconds() {
                observer.observe(seconds, &[]);
            }
        })
        .build();
    let _memory = meter
        .u64_observable_gauge("process.memory.usage")
        .with_unit("By")
        .with_description("Resident memory of the process")
        .with_callback(|observer| {
            if let Some(bytes) = crate::process::resident_bytes() {
                observer.observe(bytes, &[]);
            }
        })
        .build();
}
