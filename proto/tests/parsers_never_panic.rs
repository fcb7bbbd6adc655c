//! Fuzzing on stable Rust: every parser of outside input in proto answers arbitrary and
//! mutated input with a value or an error, never a panic. Inputs are random bytes and real
//! documents (the Python SDK corpus) with bytes flipped, cut or spliced.
//!
//! The case budget is `FLUORO_FUZZ_CASES` (default 256 per parser, what CI runs); the long run
//! is `FLUORO_FUZZ_CASES=1000000 cargo test --release -p fluoro-proto --test tests
//! parsers_never_panic` (docs/operations.md).

use fluoro_proto::{
    log_rows_from_otlp, metric_points_from_otlp, parse_document, rows_from_otlp, SentEntity, TraceHeader,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::prelude::*;
use prost::Message;

/// Cases per parser: `FLUORO_FUZZ_CASES`, else a budget small enough for every test run.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("FLUORO_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(256);
    // Shrinking a found crash is worth little next to the failing input itself, and a million
    // cases must not also keep a million failure-persistence entries.
    ProptestConfig { cases, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() }
}

fn corpus() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xray-python-sdk/documents.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut documents: Vec<String> = text.lines().map(str::to_owned).collect();
    documents.push(NODE_DOCUMENT.to_owned());
    documents
}

const NODE_DOCUMENT: &str = r#"{"id":"2a4b5c6d7e8f9012","name":"pets-api","start_time":1733300000.123,"trace_id":"1-6750a0a0-0123456789abcdef01234567","cause":{"exceptions":[{"message":"boom","stack":[{"path":"node:internal","line":null}]}]},"annotations":{"n":3},"end_time":1733300001,"subsegments":[{"id":"5d7e9f1a2b3c4d5e","name":"db","start_time":1733300000.2,"end_time":1733300000.9}]}"#;

/// One of the corpus' documents with a random change: a byte replaced, a range cut out, or a
/// fragment of JSON syntax spliced in.
fn mutated_document() -> impl Strategy<Value = Vec<u8>> {
    let documents = corpus();
    const FRAGMENTS: &[&str] =
        &["null", "{", "}", "[", "]", "\"", ",", ":", "1e999", "-0", "\"\\u0000\"", "[[[[[[[[", "true"];
    (
        proptest::sample::select(documents),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        0..3usize,
        any::<u8>(),
        proptest::sample::select(FRAGMENTS),
    )
        .prop_map(|(document, at, to, how, byte, fragment)| {
            let mut bytes = document.into_bytes();
            let at_index = at.index(bytes.len());
            match how {
                0 => bytes[at_index] = byte,
                1 => {
                    let end = (at_index + to.index(64)).min(bytes.len());
                    bytes.drain(at_index..end);
                }
                _ => {
                    bytes.splice(at_index..at_index, fragment.bytes());
                }
            }
            bytes
        })
}

fn check_document(bytes: &[u8]) {
    if let Ok(document) = parse_document(bytes) {
        // An accepted document is stored as sent and read back as such.
        let text = std::str::from_utf8(bytes).unwrap();
        let entities = SentEntity::parse_document(text).unwrap();
        assert_eq!(entities.len(), document.entities().len());
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = SentEntity::parse_document(text).map(|entities| entities.iter().map(SentEntity::to_json).count());
    }
}

fn check_otlp(bytes: &[u8]) {
    if let Ok(request) = ExportTraceServiceRequest::decode(bytes) {
        rows_from_otlp(&request.resource_spans);
    }
    if let Ok(request) = ExportLogsServiceRequest::decode(bytes) {
        log_rows_from_otlp(&request.resource_logs);
    }
    if let Ok(request) = ExportMetricsServiceRequest::decode(bytes) {
        metric_points_from_otlp(&request.resource_metrics);
    }
    if let Ok(request) = serde_json::from_slice::<ExportTraceServiceRequest>(bytes) {
        rows_from_otlp(&request.resource_spans);
    }
    if let Ok(request) = serde_json::from_slice::<ExportLogsServiceRequest>(bytes) {
        log_rows_from_otlp(&request.resource_logs);
    }
    if let Ok(request) = serde_json::from_slice::<ExportMetricsServiceRequest>(bytes) {
        metric_points_from_otlp(&request.resource_metrics);
    }
}

const OTLP_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"http.status_code","value":{"intValue":"500"}}]}]}]}],"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1544712660300000000","body":{"stringValue":"x"},"traceId":"5b8efff798038103d269b633813fc60c"}]}]}],"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"dataPoints":[{"asInt":"3","timeUnixNano":"1"}],"aggregationTemporality":2,"isMonotonic":true}}]}]}]}"#;

/// Valid OTLP as protobuf, JSON, and both with a byte changed.
fn otlp_input() -> impl Strategy<Value = Vec<u8>> {
    let traces: ExportTraceServiceRequest = serde_json::from_str(OTLP_JSON).unwrap();
    let logs: ExportLogsServiceRequest = serde_json::from_str(OTLP_JSON).unwrap();
    let metrics: ExportMetricsServiceRequest = serde_json::from_str(OTLP_JSON).unwrap();
    let seeds =
        vec![traces.encode_to_vec(), logs.encode_to_vec(), metrics.encode_to_vec(), OTLP_JSON.as_bytes().to_vec()];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (proptest::sample::select(seeds), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(mut bytes, at, byte)| {
                let index = at.index(bytes.len());
                bytes[index] = byte;
                bytes
            }
        ),
    ]
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn segment_documents_never_panic(bytes in prop_oneof![mutated_document(), proptest::collection::vec(any::<u8>(), 0..256)]) {
        check_document(&bytes);
    }

    #[test]
    fn otlp_protobuf_and_json_never_panic(bytes in otlp_input()) {
        check_otlp(&bytes);
    }

    #[test]
    fn trace_headers_never_panic(text in "(Root|Parent|Sampled|Self|Lineage|[=;:\\-0-9a-fA-F ]|.){0,120}") {
        if let Ok(header) = TraceHeader::parse(&text) {
            let _ = TraceHeader::parse(&header.to_string());
        }
    }
}

#[test]
fn the_seed_inputs_are_valid_so_mutations_start_from_real_input() {
    assert!(corpus().iter().filter(|document| parse_document(document.as_bytes()).is_ok()).count() >= 2);
    let traces: ExportTraceServiceRequest = serde_json::from_str(OTLP_JSON).unwrap();
    assert_eq!(rows_from_otlp(&traces.resource_spans).rows.len(), 1);
}
