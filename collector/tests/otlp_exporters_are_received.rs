//! OTLP exporters (the OpenTelemetry Python SDK over gRPC and HTTP, and plain HTTP clients
//! sending protobuf and OTLP/JSON) get their spans stored, partial successes reported, and
//! broken requests refused with the right status and counted.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use fluoro_collector::{
    otlp_http_router, serve_otlp_grpc, Counters, HttpLimits, Ingest, MemorySink, RejectReason, Source,
    MAX_OTLP_REQUEST_BYTES,
};
use fluoro_proto::{SegmentId, SinkError, SpanBatch, SpanKind, SpanRow, SpanSink, TraceId, TraceSource};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use tokio::sync::oneshot;

const TRACE_ID_HEX: &str = "5b8efff798038103d269b633813fc60c";

/// Both OTLP receivers on ephemeral ports, stopped when dropped.
pub(crate) struct Receivers {
    pub(crate) grpc: SocketAddr,
    pub(crate) http: SocketAddr,
    pub(crate) ingest: Ingest,
    _stop_grpc: oneshot::Sender<()>,
    _stop_http: oneshot::Sender<()>,
}

impl Receivers {
    async fn start(sink: Arc<dyn SpanSink>) -> Receivers {
        Receivers::serve(Ingest::new(sink, Arc::new(Counters::new()))).await
    }

    /// Both receivers in front of `ingest` (the logs tests give it a log sink).
    pub(crate) async fn serve(ingest: Ingest) -> Receivers {
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (grpc, http) = (grpc_listener.local_addr().unwrap(), http_listener.local_addr().unwrap());
        let (stop_grpc, grpc_stopped) = oneshot::channel::<()>();
        let (stop_http, http_stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_otlp_grpc(grpc_listener, ingest.clone(), HttpLimits::default(), async move {
            let _ = grpc_stopped.await;
        }));
        let router = otlp_http_router(ingest.clone());
        tokio::spawn(async move {
            axum::serve(http_listener, router)
                .with_graceful_shutdown(async move {
                    let _ = http_stopped.await;
                })
                .await
        });
        Receivers { grpc, http, ingest, _stop_grpc: stop_grpc, _stop_http: stop_http }
    }

    fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.http)
    }

    pub(crate) fn counters(&self) -> &Counters {
        self.ingest.counters()
    }
}

fn memory_sink() -> Arc<MemorySink> {
    Arc::new(MemorySink::new(100_000))
}

/// Runs `tests/python/<script>` with `args`, without the developer's own `OTEL_*` settings
/// (the SDK reads them); returns its standard output, which must be a success.
pub(crate) async fn run_python(script: &str, args: Vec<String>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new("python3");
        command.arg(path).args(args);
        for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("OTEL_")) {
            command.env_remove(name);
        }
        command.output()
    })
    .await
    .unwrap()
    .expect("python3 runs (pip install -r requirements-test.txt)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `tests/python/otlp_export.py` and returns the trace id it printed.
async fn export_with_python_sdk(protocol: &str, endpoint: String) -> TraceId {
    let stdout = run_python("otlp_export.py", vec![protocol.to_owned(), endpoint]).await;
    TraceId::parse_w3c(stdout.trim()).unwrap()
}

/// The rows of the trace the Python script sends: a server span and its failing client call.
fn assert_python_trace(sink: &MemorySink, trace_id: TraceId) {
    let traces = sink.traces(&[trace_id]);
    assert_eq!(traces.len(), 1, "trace {trace_id} is stored");
    let rows = &traces[0].rows;
    assert_eq!(rows.len(), 2);
    let server = rows.iter().find(|row| row.kind == SpanKind::Segment).expect("a segment row");
    let client = rows.iter().find(|row| row.kind == SpanKind::Subsegment).expect("a subsegment row");

    assert_eq!(server.service.as_deref(), Some("checkout"));
    assert_eq!(server.name, "checkout");
    assert_eq!(server.parent_id, None);
    assert_eq!(server.http.method.as_deref(), Some("GET"));
    assert_eq!(server.http.url.as_deref(), Some("http://shop.example/orders/42"));
    assert_eq!(server.http.status, Some(200));
    assert!(!server.fault && !server.error);

    assert_eq!(client.service.as_deref(), Some("checkout"));
    assert_eq!(client.name, "inventory");
    assert_eq!(client.parent_id, Some(server.id));
    assert!(client.remote);
    assert_eq!(client.namespace.as_deref(), Some("remote"));
    assert_eq!(client.http.url.as_deref(), Some("http://inventory.internal:8080/items/42"));
    assert_eq!(client.http.status, Some(503));
    assert!(client.fault && !client.error);
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_grpc_exporter_with_gzip_is_received() {
    let sink = memory_sink();
    let receivers = Receivers::start(sink.clone()).await;

    let trace_id = export_with_python_sdk("grpc", format!("http://{}", receivers.grpc)).await;

    assert_python_trace(&sink, trace_id);
    assert_eq!(receivers.counters().received(Source::OtlpGrpc), 2);
    assert_eq!(receivers.counters().accepted(Source::OtlpGrpc), 2);
    assert_eq!(receivers.counters().rejected(Source::OtlpGrpc, RejectReason::Invalid), 0);
    assert_eq!(receivers.counters().received(Source::OtlpHttp), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_http_exporter_with_gzip_is_received() {
    let sink = memory_sink();
    let receivers = Receivers::start(sink.clone()).await;

    let trace_id = export_with_python_sdk("http", receivers.traces_url()).await;

    assert_python_trace(&sink, trace_id);
    assert_eq!(receivers.counters().received(Source::OtlpHttp), 2);
    assert_eq!(receivers.counters().accepted(Source::OtlpHttp), 2);
    assert_eq!(receivers.counters().received(Source::OtlpGrpc), 0);
}

/// OTLP/JSON as the specification's example writes it: hex ids, integer enums, 64-bit
/// integers as strings.
fn otlp_json_body() -> String {
    format!(
        r#"{{"resourceSpans":[{{
            "resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"frontend"}}}}]}},
            "scopeSpans":[{{"scope":{{"name":"manual"}},"spans":[
                {{"traceId":"{TRACE_ID_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":"",
                  "name":"GET /","kind":2,
                  "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
                  "attributes":[
                    {{"key":"http.request.method","value":{{"stringValue":"GET"}}}},
                    {{"key":"http.response.status_code","value":{{"intValue":"404"}}}}],
                  "status":{{}}}},
                {{"traceId":"{TRACE_ID_HEX}","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174",
                  "name":"render","kind":1,
                  "startTimeUnixNano":"1700000000100000000","endTimeUnixNano":1700000000200000000,
                  "status":{{"code":2,"message":"template missing"}}}}
            ]}}]
        }}]}}"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn assert_json_trace(sink: &MemorySink) {
    let traces = sink.traces(&[TraceId::parse_w3c(TRACE_ID_HEX).unwrap()]);
    let rows: &[SpanRow] = &traces[0].rows;
    assert_eq!(rows.len(), 2);
    let root = &rows[0];
    assert_eq!(
        (root.id, root.kind, root.parent_id),
        (SegmentId::parse("eee19b7ec3c1b174").unwrap(), SpanKind::Segment, None)
    );
    assert_eq!(root.service.as_deref(), Some("frontend"));
    assert_eq!(root.http.status, Some(404));
    assert!(root.error && !root.fault);
    assert_eq!((root.start_us, root.end_us), (1_700_000_000_000_000, Some(1_700_000_000_250_000)));
    let child = &rows[1];
    assert_eq!((child.kind, child.parent_id), (SpanKind::Subsegment, Some(root.id)));
    assert_eq!(child.name, "render");
    assert!(child.fault);
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_json_is_received_plain_and_gzipped() {
    for gzipped in [false, true] {
        let sink = memory_sink();
        let receivers = Receivers::start(sink.clone()).await;
        let body = otlp_json_body().into_bytes();
        let mut request =
            reqwest::Client::new().post(receivers.traces_url()).header("content-type", "application/json");
        request =
            if gzipped { request.header("content-encoding", "gzip").body(gzip(&body)) } else { request.body(body) };

        let response = request.send().await.unwrap();

        assert_eq!(response.status(), 200, "gzipped: {gzipped}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer.get("partialSuccess"), None, "no partial success when every span is kept: {answer}");
        assert_json_trace(&sink);
        assert_eq!(receivers.counters().accepted(Source::OtlpHttp), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_span_in_otlp_json_is_a_partial_success() {
    let sink = memory_sink();
    let receivers = Receivers::start(sink.clone()).await;
    // The second span's trace id is 15 bytes long.
    let body = otlp_json_body().replacen(
        &format!(r#""traceId":"{TRACE_ID_HEX}","spanId":"eee19b7ec3c1b175""#),
        &format!(r#""traceId":"{}","spanId":"eee19b7ec3c1b175""#, &TRACE_ID_HEX[..30]),
        1,
    );

    let response = post(&receivers, "application/json", &[], body.into_bytes()).await;

    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 1, "{answer}");
    assert!(answer["partialSuccess"]["errorMessage"].as_str().unwrap().contains("render"), "{answer}");
    let traces = sink.traces(&[TraceId::parse_w3c(TRACE_ID_HEX).unwrap()]);
    assert_eq!(traces[0].rows.len(), 1);
    assert_eq!(traces[0].rows[0].name, "frontend");
}

/// The OTLP specification has senders write enums as integers; the protobuf JSON mapping's enum
/// names are not read (see the `otlp` module documentation).
#[tokio::test(flavor = "multi_thread")]
async fn otlp_json_enum_names_are_refused() {
    let receivers = Receivers::start(memory_sink()).await;
    let body = otlp_json_body().replacen(r#""kind":2"#, r#""kind":"SPAN_KIND_SERVER""#, 1);

    let response = post(&receivers, "application/json", &[], body.into_bytes()).await;

    assert_eq!(response.status(), 400);
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}

/// One good server span and one whose trace id is 15 bytes long.
fn request_with_one_bad_span() -> ExportTraceServiceRequest {
    let trace_id = TraceId::parse_w3c(TRACE_ID_HEX).unwrap().to_bytes().to_vec();
    let good = Span {
        trace_id: trace_id.clone(),
        span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
        name: "POST /pay".to_owned(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        ..Span::default()
    };
    let bad =
        Span { trace_id: trace_id[..15].to_vec(), span_id: vec![9; 8], name: "broken".to_owned(), ..good.clone() };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "payments")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans: vec![good, bad], ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn assert_only_good_span_stored(sink: &MemorySink) {
    let traces = sink.traces(&[TraceId::parse_w3c(TRACE_ID_HEX).unwrap()]);
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].rows.len(), 1);
    assert_eq!(traces[0].rows[0].service.as_deref(), Some("payments"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_span_over_http_is_a_partial_success() {
    let sink = memory_sink();
    let receivers = Receivers::start(sink.clone()).await;

    let response = reqwest::Client::new()
        .post(receivers.traces_url())
        .header("content-type", "application/x-protobuf")
        .body(request_with_one_bad_span().encode_to_vec())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("broken"), "{}", partial.error_message);
    assert_only_good_span_stored(&sink);
    let counters = receivers.counters();
    assert_eq!(counters.received(Source::OtlpHttp), 2);
    assert_eq!(counters.accepted(Source::OtlpHttp), 1);
    assert_eq!(counters.rejected(Source::OtlpHttp, RejectReason::Invalid), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_span_over_grpc_is_a_partial_success() {
    let sink = memory_sink();
    let receivers = Receivers::start(sink.clone()).await;
    let mut client = TraceServiceClient::connect(format!("http://{}", receivers.grpc)).await.unwrap();

    let answer = client.export(request_with_one_bad_span()).await.unwrap().into_inner();

    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("1 of 2 spans rejected"), "{}", partial.error_message);
    assert_only_good_span_stored(&sink);
    assert_eq!(receivers.counters().rejected(Source::OtlpGrpc, RejectReason::Invalid), 1);
    assert_eq!(receivers.counters().accepted(Source::OtlpGrpc), 1);
}

async fn post(receivers: &Receivers, content_type: &str, headers: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(receivers.traces_url()).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_bodies_are_refused_with_400_and_counted() {
    let receivers = Receivers::start(memory_sink()).await;

    let garbage_protobuf =
        post(&receivers, "application/x-protobuf", &[], b"\xff\xff\xff\xff not protobuf".to_vec()).await;
    assert_eq!(garbage_protobuf.status(), 400);
    let status = garbage_protobuf.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&status).contains("not a protobuf ExportTraceServiceRequest"));

    let broken_json = post(&receivers, "application/json", &[], br#"{"resourceSpans":[{"#.to_vec()).await;
    assert_eq!(broken_json.status(), 400);
    let message: serde_json::Value = broken_json.json().await.unwrap();
    assert_eq!(message["code"], 3, "google.rpc.Status INVALID_ARGUMENT: {message}");

    let not_gzip = post(&receivers, "application/json", &[("content-encoding", "gzip")], b"{}".to_vec()).await;
    assert_eq!(not_gzip.status(), 400);

    assert_eq!(receivers.counters().rejected(Source::OtlpHttp, RejectReason::BadJson), 3);
    assert_eq!(receivers.counters().received(Source::OtlpHttp), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_content_types_are_refused_with_415() {
    let receivers = Receivers::start(memory_sink()).await;

    let text = post(&receivers, "text/plain", &[], otlp_json_body().into_bytes()).await;
    assert_eq!(text.status(), 415);
    assert!(text.text().await.unwrap().contains("expected application/x-protobuf or application/json"));

    let brotli =
        post(&receivers, "application/json", &[("content-encoding", "br")], otlp_json_body().into_bytes()).await;
    assert_eq!(brotli.status(), 415);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_and_zip_bombs_are_refused_with_413() {
    let receivers = Receivers::start(memory_sink()).await;

    let too_big = post(&receivers, "application/x-protobuf", &[], vec![0; MAX_OTLP_REQUEST_BYTES + 1]).await;
    assert_eq!(too_big.status(), 413);

    let bomb = gzip(&vec![b' '; MAX_OTLP_REQUEST_BYTES + 1]);
    assert!(bomb.len() < 100 * 1024);
    let expanded = post(&receivers, "application/json", &[("content-encoding", "gzip")], bomb).await;
    assert_eq!(expanded.status(), 413);

    assert_eq!(receivers.counters().rejected(Source::OtlpHttp, RejectReason::TooLarge), 2);
}

/// A sink that refuses everything, as a full disk would.
struct FailingSink;

impl SpanSink for FailingSink {
    fn write(&self, _batch: SpanBatch) -> Result<(), SinkError> {
        Err(SinkError::new("disk full"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_failures_ask_exporters_to_retry() {
    let receivers = Receivers::start(Arc::new(FailingSink)).await;

    let http = post(&receivers, "application/json", &[], otlp_json_body().into_bytes()).await;
    assert_eq!(http.status(), 503);

    let mut client = TraceServiceClient::connect(format!("http://{}", receivers.grpc)).await.unwrap();
    let grpc = client.export(request_with_one_bad_span()).await.unwrap_err();
    assert_eq!(grpc.code(), tonic::Code::Unavailable);
    assert!(grpc.message().contains("disk full"), "{}", grpc.message());
}
