//! OTLP log exporters (the OpenTelemetry Python SDK's, over gRPC and HTTP, and plain clients
//! sending OTLP/JSON and protobuf) get their records kept with their trace context, and a bad
//! record is counted and reported as a partial success while the rest is kept.

use crate::otlp_exporters_are_received::{run_python, Receivers};
use std::io::Write as _;
use std::sync::Arc;

use fluoro_collector::{Counters, Ingest, MemorySink, RejectReason, Source};
use fluoro_proto::{LogBatch, LogRow, LogSink, SegmentId, SinkError, TraceId};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use parking_lot::Mutex;

const TRACE_ID_HEX: &str = "5b8efff798038103d269b633813fc60c";

/// Keeps every log record it is given, as the store would.
#[derive(Debug, Default)]
struct KeptLogs(Mutex<Vec<LogRow>>);

impl LogSink for KeptLogs {
    fn write_logs(&self, batch: LogBatch) -> Result<(), SinkError> {
        self.0.lock().extend(batch.rows);
        Ok(())
    }
}

impl KeptLogs {
    fn rows(&self) -> Vec<LogRow> {
        self.0.lock().clone()
    }
}

/// The span tests' receivers, with `logs` as the log sink.
async fn start_receivers(logs: Arc<KeptLogs>) -> Receivers {
    Receivers::serve(Ingest::new(Arc::new(MemorySink::new(1000)), Arc::new(Counters::new())).with_log_sink(logs)).await
}

/// Runs `tests/python/otlp_logs.py`; returns the trace and span id its lines were written in.
async fn log_with_python_sdk(protocol: &str, endpoint: String, marker: &str) -> (TraceId, SegmentId) {
    let args = vec![protocol.to_owned(), endpoint, "pet-search".to_owned(), marker.to_owned()];
    let stdout = run_python("otlp_logs.py", args).await;
    let printed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    (
        TraceId::parse_w3c(printed["trace_id"].as_str().unwrap()).unwrap(),
        SegmentId::parse(printed["span_id"].as_str().unwrap()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_log_exporters_over_grpc_and_http_are_received() {
    for (protocol, source) in [("grpc", Source::OtlpGrpcLogs), ("http", Source::OtlpHttpLogs)] {
        let logs = Arc::new(KeptLogs::default());
        let receivers = start_receivers(logs.clone()).await;
        let endpoint = match protocol {
            "grpc" => format!("http://{}", receivers.grpc),
            _ => format!("http://{}/v1/logs", receivers.http),
        };

        let (trace_id, span_id) = log_with_python_sdk(protocol, endpoint, "m1").await;

        let rows = logs.rows();
        let lines: Vec<(&str, i32, Option<TraceId>, Option<SegmentId>)> =
            rows.iter().map(|row| (row.body.as_str(), row.severity_number, row.trace_id, row.span_id)).collect();
        assert_eq!(
            lines,
            [
                ("loading pet 42 m1", 9, Some(trace_id), Some(span_id)),
                ("Illegal memory allocation m1", 17, Some(trace_id), Some(span_id)),
                ("cache is cold m1", 13, None, None),
            ],
            "{protocol}"
        );
        assert!(rows.iter().all(|row| row.service == "pet-search"));
        assert_eq!(rows[1].severity_text, "ERROR");
        assert!(rows[1].attributes.contains(&("pet.id".to_owned(), "42".to_owned())), "{:?}", rows[1].attributes);
        assert!(rows.windows(2).all(|pair| pair[0].time_us <= pair[1].time_us));
        assert_eq!((receivers.counters().received(source), receivers.counters().accepted(source)), (3, 3));
        assert_eq!(
            receivers.counters().received(Source::OtlpGrpc) + receivers.counters().received(Source::OtlpHttp),
            0
        );
    }
}

fn otlp_json_logs(second_trace_id: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{
            "resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"payments"}}}}]}},
            "scopeLogs":[{{"logRecords":[
                {{"timeUnixNano":"1700000000000000000","severityNumber":17,"severityText":"ERROR",
                  "body":{{"stringValue":"card declined"}},"traceId":"{TRACE_ID_HEX}","spanId":"eee19b7ec3c1b174"}},
                {{"timeUnixNano":"1700000000100000000","severityNumber":9,
                  "body":{{"stringValue":"retrying"}},"traceId":"{second_trace_id}","spanId":"eee19b7ec3c1b174"}}
            ]}}]
        }}]}}"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_json_logs_are_received_gzipped() {
    let logs = Arc::new(KeptLogs::default());
    let receivers = start_receivers(logs.clone()).await;

    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", receivers.http))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(otlp_json_logs(TRACE_ID_HEX).as_bytes()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{}", "no partial success when every record is kept");
    let rows = logs.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].service.as_str(), rows[0].body.as_str()), ("payments", "card declined"));
    assert_eq!(rows[0].trace_id, Some(TraceId::parse_w3c(TRACE_ID_HEX).unwrap()));
    assert_eq!(rows[0].time_us, 1_700_000_000_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_record_with_an_invalid_trace_id_is_a_counted_partial_success() {
    let logs = Arc::new(KeptLogs::default());
    let receivers = start_receivers(logs.clone()).await;

    // Over HTTP: the second record's trace id is 15 bytes long.
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", receivers.http))
        .header("content-type", "application/json")
        .body(otlp_json_logs(&TRACE_ID_HEX[..30]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], 1, "{answer}");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("log_records[1]") && message.contains("trace_id is 15 bytes"), "{message}");
    assert_eq!(logs.rows().iter().map(|row| row.body.as_str()).collect::<Vec<_>>(), ["card declined"]);
    assert_eq!(receivers.counters().rejected(Source::OtlpHttpLogs, RejectReason::Invalid), 1);
    assert_eq!(receivers.counters().accepted(Source::OtlpHttpLogs), 1);

    // Over gRPC, with a tonic client: a body over the limit.
    let record = |body: String| LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        body: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
            value: Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(body)),
        }),
        ..Default::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record("a".repeat(fluoro_proto::MAX_LOG_BODY_BYTES + 1)), record("fine".into())],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut client = LogsServiceClient::connect(format!("http://{}", receivers.grpc)).await.unwrap();
    let answer = client.export(request).await.unwrap().into_inner();
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("body is 65537 bytes"), "{}", partial.error_message);
    assert_eq!(logs.rows().last().map(|row| row.body.as_str()), Some("fine"));
    assert_eq!(receivers.counters().rejected(Source::OtlpGrpcLogs, RejectReason::Invalid), 1);
    assert_eq!(receivers.counters().accepted(Source::OtlpGrpcLogs), 1);
    assert!(receivers
        .counters()
        .prometheus()
        .contains("fluoro_rejected_total{source=\"otlp_grpc_logs\",reason=\"invalid\"} 1\n"));
}
