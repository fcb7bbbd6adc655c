//! `fluoro serve` keeps the log lines the OpenTelemetry Python SDK exports over gRPC and HTTP,
//! inside a span and outside any, finds them by trace id, segment id, service, text and time
//! through the JSON API, counts them on `/metrics`, and loses none it acknowledged when killed
//! with SIGKILL.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::server::FluoroServer;

/// Runs the collector's `otlp_logs.py` (three lines, two in a span, one outside); returns the
/// span's W3C trace id and span id.
pub(crate) fn log_with_python_sdk(protocol: &str, endpoint: &str, marker: &str) -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/tests/python/otlp_logs.py");
    let output = Command::new("python3")
        .arg(script)
        .args([protocol, endpoint, "pet-search", marker])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_SERVICE_NAME")
        .output()
        .expect("python3 runs (pip install -r requirements-test.txt)");
    assert!(output.status.success(), "otlp_logs.py: {}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    (printed["trace_id"].as_str().unwrap().to_owned(), printed["span_id"].as_str().unwrap().to_owned())
}

fn bodies(answer: &Value) -> Vec<String> {
    answer["Logs"].as_array().unwrap().iter().map(|line| line["Body"].as_str().unwrap().to_owned()).collect()
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn metrics(server: &FluoroServer) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap() })
}

/// Everything the test can find of one export: by trace, by segment, by service and text.
fn assert_found(server: &FluoroServer, trace_id: &str, span_id: &str, marker: &str) {
    let trace = server.post("/api/logs/trace", json!({"TraceId": trace_id}));
    assert_eq!(bodies(&trace), [format!("loading pet 42 {marker}"), format!("Illegal memory allocation {marker}")]);
    let error = &trace["Logs"][1];
    assert_eq!((error["SeverityNumber"].as_i64(), error["SeverityText"].as_str()), (Some(17), Some("ERROR")));
    assert_eq!(error["Service"], "pet-search");
    assert_eq!(error["SegmentId"], span_id);
    assert_eq!(error["Attributes"]["pet.id"], "42");
    let segment = server.post("/api/logs/trace", json!({"TraceId": trace_id, "SegmentId": span_id}));
    assert_eq!(bodies(&segment).len(), 2);

    let window = json!({"StartTime": now() - 600.0, "EndTime": now() + 60.0, "Service": "pet-search", "Text": marker});
    let search = server.post("/api/logs/search", window.clone());
    assert_eq!(
        bodies(&search),
        [
            format!("cache is cold {marker}"),
            format!("Illegal memory allocation {marker}"),
            format!("loading pet 42 {marker}")
        ],
        "newest first"
    );
    assert_eq!(search["Logs"][0].get("TraceId"), None, "the line outside the span has no trace");
    let mut warnings = window.clone();
    warnings["Severity"] = json!("WARN");
    assert_eq!(bodies(&server.post("/api/logs/search", warnings)).len(), 2);
    let mut elsewhere = window;
    elsewhere["Service"] = json!("payments");
    assert!(bodies(&server.post("/api/logs/search", elsewhere)).is_empty());
}

#[test]
fn fluoro_serve_keeps_sdk_logs_through_a_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(data.path());
    let grpc = format!("http://{}", server.addresses["otlp-grpc"]);
    let http = format!("http://{}/v1/logs", server.addresses["otlp-http"]);

    let (grpc_trace, grpc_span) = log_with_python_sdk("grpc", &grpc, "over-grpc");
    let (http_trace, http_span) = log_with_python_sdk("http", &http, "over-http");

    assert_found(&server, &grpc_trace, &grpc_span, "over-grpc");
    assert_found(&server, &http_trace, &http_span, "over-http");
    let text = metrics(&server);
    assert!(text.contains("fluoro_accepted_total{source=\"otlp_grpc_logs\"} 3\n"), "{text}");
    assert!(text.contains("fluoro_accepted_total{source=\"otlp_http_logs\"} 3\n"), "{text}");

    // Every line above was acknowledged: a SIGKILL and a restart must keep them all.
    server.kill_hard();
    let restarted = FluoroServer::start(data.path());
    assert_found(&restarted, &grpc_trace, &grpc_span, "over-grpc");
    assert_found(&restarted, &http_trace, &http_span, "over-http");

    // A graceful stop flushes them into a log block, read back after the next start.
    assert!(restarted.stop().success());
    let blocks = std::fs::read_dir(data.path().join("store/logs/blocks")).unwrap().count();
    assert_eq!(blocks, 1, "one log block after the graceful stop");
    let again = FluoroServer::start(data.path());
    assert_found(&again, &grpc_trace, &grpc_span, "over-grpc");
}
