//! X-Ray clients (boto3 and the AWS CLI, pointed at Fluoro with `endpoint_url`) put segments,
//! get refused documents reported by id, code and field, read the trace back with an
//! independent subsegment merged into its parent, and get X-Ray-shaped errors.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use fluoro_collector::{xray_api_router, Counters, Ingest, MemorySink};
use fluoro_proto::TraceId;
use fluoro_proto::{SinkError, SpanBatch, SpanSink, TraceSource};
use serde_json::{json, Value};

/// Serves the X-Ray API on an ephemeral port for the rest of the test.
async fn serve(sink: Arc<dyn SpanSink>, traces: Arc<dyn TraceSource>) -> (SocketAddr, Ingest) {
    let ingest = Ingest::new(sink, Arc::new(Counters::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = xray_api_router(ingest.clone(), traces);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, ingest)
}

async fn run_python_clients(endpoint: String) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/xray_put_get.py");
    let run = tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(endpoint).output())
        .await
        .unwrap()
        .expect("python3 runs (see requirements-test.txt)");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "xray_put_get.py failed:\n{stderr}");
    serde_json::from_slice(&run.stdout).unwrap_or_else(|error| panic!("{error}; stderr:\n{stderr}"))
}

fn document(segment: &Value) -> Value {
    serde_json::from_str(segment["Document"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_and_the_cli_put_segments_and_read_the_merged_trace_back() {
    let sink = Arc::new(MemorySink::new(100_000));
    let (address, _ingest) = serve(sink.clone(), sink.clone() as Arc<dyn TraceSource>).await;
    let result = run_python_clients(format!("http://{address}")).await;
    let trace_id = result["trace_id"].as_str().unwrap();

    assert_eq!(result["put_segment"], json!({"UnprocessedTraceSegments": []}));
    let refused = result["put_rest"]["UnprocessedTraceSegments"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert_eq!(refused[0]["Id"], "100000000000000c");
    assert_eq!(refused[0]["ErrorCode"], "InvalidSegment");
    let message = refused[0]["Message"].as_str().unwrap();
    assert!(message.starts_with("TraceSegmentDocuments[1]: segment 100000000000000c: trace_id"), "{message}");
    assert!(message.contains("\"1-nothex\" is not a valid trace id"), "{message}");
    assert_eq!(refused[1]["Id"], "100000000000000d", "the id is found even in broken JSON");
    assert_eq!(refused[1]["ErrorCode"], "MalformedJson");
    assert!(refused[1]["Message"]
        .as_str()
        .unwrap()
        .starts_with("TraceSegmentDocuments[2]: document is not valid JSON"));

    let get = &result["get"];
    let unknown = format!("{}-000000000000000000000000", &trace_id[..10]);
    assert_eq!(get["UnprocessedTraceIds"], json!(["not-a-trace-id", unknown]));
    let traces = get["Traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(trace["Id"], trace_id);
    assert_eq!(trace["LimitExceeded"], false);
    // The independent subsegment ends 0.75 s after the segment starts, after the segment.
    assert_eq!(trace["Duration"], 0.5, "Duration counts top-level segments");
    let segments = trace["Segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "the independent subsegment is merged, not a Segment of its own");
    assert_eq!(segments[0]["Id"], "1000000000000001");
    let segment = document(&segments[0]);
    assert_eq!(segment["name"], "checkout");
    let handler = &segment["subsegments"][0];
    assert_eq!(handler["id"], "100000000000000a");
    assert_eq!(handler["subsegments"][0]["id"], "100000000000000b");
    assert_eq!(handler["subsegments"][0]["name"], "payments");
    assert_eq!(handler["subsegments"][0].get("type"), None);

    assert_eq!(result["telemetry"], json!({}));
    let too_many = &result["too_many_ids"];
    assert_eq!(too_many["code"], "InvalidRequestException");
    assert_eq!(too_many["status"], 400);
    assert_eq!(
        too_many["message"],
        "TraceIds has 101 ids; at most 100 are accepted per request (limits.trace_ids_per_request)"
    );

    let cli_traces = result["cli"]["Traces"].as_array().unwrap_or_else(|| panic!("aws cli: {}", result["cli"]));
    assert_eq!(cli_traces[0]["Segments"], trace["Segments"]);

    let metrics = reqwest::get(format!("http://{address}/metrics")).await.unwrap();
    assert_eq!(metrics.headers()["content-type"], "text/plain; version=0.0.4");
    let text = metrics.text().await.unwrap();
    assert!(text.contains("fluoro_received_total{source=\"put_trace_segments\"} 4\n"), "{text}");
    assert!(text.contains("fluoro_accepted_total{source=\"put_trace_segments\"} 2\n"), "{text}");
    assert!(text.contains("fluoro_rejected_total{source=\"put_trace_segments\",reason=\"invalid\"} 1\n"), "{text}");
    assert!(text.contains("fluoro_rejected_total{source=\"put_trace_segments\",reason=\"bad_json\"} 1\n"), "{text}");
    assert!(text.contains("fluoro_xray_telemetry_records_total 1\n"), "{text}");

    let counters: Value = reqwest::get(format!("http://{address}/api/counters")).await.unwrap().json().await.unwrap();
    let put = counters["sources"].as_array().unwrap().iter().find(|s| s["source"] == "put_trace_segments").unwrap();
    assert_eq!(put["accepted"], 2);
}

/// A sink that refuses everything, and a trace source that knows nothing.
#[derive(Debug)]
struct BrokenStore;

impl SpanSink for BrokenStore {
    fn write(&self, _batch: SpanBatch) -> Result<(), SinkError> {
        Err(SinkError::disk_full("disk full"))
    }
}

impl TraceSource for BrokenStore {
    fn traces(&self, _ids: &[TraceId]) -> Vec<fluoro_proto::StoredTrace> {
        Vec::new()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_errors_have_the_x_ray_error_shape() {
    let (address, _ingest) = serve(Arc::new(BrokenStore), Arc::new(BrokenStore)).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Vec<u8>| client.post(format!("http://{address}{path}")).body(body).send();

    let segment = r#"{"name":"a","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1478293361.271,"end_time":1478293361.449}"#;
    let request = json!({"TraceSegmentDocuments": [segment]}).to_string().into_bytes();
    let stored_nothing = post("/TraceSegments", request).await.unwrap();
    assert_eq!(stored_nothing.status(), 503, "a 5xx makes botocore retry");
    assert_eq!(stored_nothing.headers()["x-amzn-errortype"], "ServiceUnavailable");
    let body: Value = stored_nothing.json().await.unwrap();
    assert_eq!(body, json!({"__type": "ServiceUnavailable", "message": "cannot store spans: disk full"}));
    let metrics = client.get(format!("http://{address}/metrics")).send().await.unwrap().text().await.unwrap();
    let dropped = "fluoro_dropped_total{source=\"put_trace_segments\",reason=\"disk_full\"} 1\n";
    assert!(metrics.contains(dropped), "a refusal for a full disk is counted as such: {metrics}");

    let not_json = post("/TraceSegments", b"{\"TraceSegmentDocuments\": [1]}".to_vec()).await.unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(not_json.headers()["x-amzn-errortype"], "InvalidRequestException");
    let body: Value = not_json.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("the body is not a valid PutTraceSegments request: invalid type: integer"),
        "{message}"
    );

    let missing = post("/Traces", b"{}".to_vec()).await.unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("missing field `TraceIds`"), "{body}");

    let too_large = post("/TraceSegments", vec![b' '; fluoro_collector::MAX_REQUEST_BODY_BYTES + 1]).await.unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(too_large.headers()["x-amzn-errortype"], "InvalidRequestException");

    let documents = vec![segment; fluoro_collector::MAX_DOCUMENTS_PER_REQUEST + 1];
    let too_many = post("/TraceSegments", json!({"TraceSegmentDocuments": documents}).to_string().into_bytes());
    let too_many = too_many.await.unwrap();
    assert_eq!(too_many.status(), 400);
    let body: Value = too_many.json().await.unwrap();
    assert_eq!(
        body["message"],
        "TraceSegmentDocuments has 501 documents; at most 500 are accepted per request (limits.documents_per_request)"
    );

    let bad_telemetry = post("/TelemetryRecords", br#"{"TelemetryRecords": [{}]}"#.to_vec()).await.unwrap();
    assert_eq!(bad_telemetry.status(), 400);
}
