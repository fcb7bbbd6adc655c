//! `fluoro serve` keeps the metrics the OpenTelemetry Python SDK exports over gRPC and HTTP (a
//! gauge, cumulative counters, a histogram), answers series and a service's resources beside
//! its traces through the JSON API, counts them on `/metrics`, refuses what it cannot keep with
//! a partial success while keeping the rest, and loses no acknowledged point to a SIGKILL.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::server::FluoroServer;

/// Runs the collector's `otlp_metrics.py`; returns the window it exported in (epoch seconds).
pub(crate) fn export_with_python_sdk(protocol: &str, endpoint: &str, service: &str) -> (f64, f64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/tests/python/otlp_metrics.py");
    let output = Command::new("python3")
        .arg(script)
        .args([protocol, endpoint, service])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_SERVICE_NAME")
        .output()
        .expect("python3 runs (pip install -r requirements-test.txt)");
    assert!(output.status.success(), "otlp_metrics.py: {}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    (printed["start"].as_f64().unwrap(), printed["end"].as_f64().unwrap())
}

fn window(start: f64, end: f64) -> Value {
    json!({"StartTime": (start - 120.0).floor(), "EndTime": (end + 120.0).ceil()})
}

fn with(mut base: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

fn values(answer: &Value) -> Vec<f64> {
    answer["Values"].as_array().unwrap().iter().filter_map(|value| value["Value"].as_f64()).collect()
}

fn round(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// What one export (`otlp_metrics.py`'s documented values) must read back as.
fn assert_found(server: &FluoroServer, service: &str, (start, end): (f64, f64)) {
    let window = window(start, end);
    let names = server.post("/api/metrics/names", with(window.clone(), json!({"Service": service})));
    let listed: Vec<(&str, &str, &str)> = names["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Kind"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("http.server.duration", "histogram_cumulative", "s"),
            ("orders.placed", "sum_cumulative", "{order}"),
            ("process.cpu.time", "sum_cumulative", "s"),
            ("process.memory.usage", "gauge", "By"),
        ]
    );
    let series = |name: &str, extra: Value| {
        let base = with(window.clone(), json!({"Service": service, "Name": name, "Period": 60}));
        server.post("/api/metrics/series", with(base, extra))
    };
    // The gauge, raw: the two collected values, each with its (empty) attributes.
    let raw = series("process.memory.usage", json!({"Period": 0}));
    assert_eq!(values(&raw), [150e6, 250e6]);
    assert_eq!(raw["Values"][0]["Attributes"], json!({}));
    assert_eq!(raw["Kind"], "gauge");
    // The counter: 3 then 7 cumulative, so 7 in all, from one series.
    let orders = series("orders.placed", json!({"Statistic": "sum"}));
    assert_eq!(round(values(&orders).iter().sum()), 7.0, "{orders}");
    assert_eq!(orders["SeriesCount"], 1);
    let other_route = series("orders.placed", json!({"Statistic": "sum", "Attributes": {"route": "/other"}}));
    assert_eq!((values(&other_route).iter().sum::<f64>(), other_route["SeriesCount"].as_u64()), (0.0, Some(0)));
    // The histogram: four values recorded before the first export, none after.
    let latency = |statistic: &str| values(&series("http.server.duration", json!({"Statistic": statistic})));
    assert_eq!(latency("count").iter().sum::<f64>(), 4.0);
    assert_eq!(latency("p50").into_iter().map(round).collect::<Vec<_>>(), [0.25], "within (0.1, 0.25]");
    assert_eq!(latency("p99").into_iter().map(round).collect::<Vec<_>>(), [0.8], "clamped to the recorded max");
    assert_eq!(latency("avg").into_iter().map(round).collect::<Vec<_>>(), [0.3375]);

    // Resources: 2.3 CPU seconds, memory 150e6 and 250e6, beside three requests, one a fault.
    let view = server.post("/api/services/resources", with(window, json!({"Service": service})));
    assert_eq!(view["CpuSource"], json!({"Metric": "process.cpu.time", "Unit": "s"}));
    assert_eq!(view["MemorySource"]["Metric"], "process.memory.usage");
    let buckets = view["Buckets"].as_array().unwrap();
    let sum =
        |field: &str, scale: f64| buckets.iter().filter_map(|b| b[field].as_f64()).map(|v| v * scale).sum::<f64>();
    assert_eq!(round(sum("Cpu", 60.0)), 2.3, "CPU seconds over the window: {view}");
    let memory: Vec<f64> = buckets.iter().filter_map(|b| b["Memory"].as_f64()).collect();
    assert!(!memory.is_empty() && memory.iter().all(|m| (150e6..=250e6).contains(m)), "{memory:?}");
    assert_eq!(sum("Requests", 1.0), 3.0);
    let faults: f64 = buckets.iter().filter_map(|b| Some(b["FaultRate"].as_f64()? * b["Requests"].as_f64()?)).sum();
    assert_eq!(round(faults), 1.0);
    assert!(buckets.iter().any(|b| b["LatencyP99"].as_f64().is_some_and(|p99| p99 >= 0.01)));
}

/// POSTs `body` to the HTTP API and returns the status and JSON answer, whatever they are.
fn post_status(server: &FluoroServer, path: &str, body: Value) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new().post(server.url(path)).json(&body).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    })
}

fn metrics_text(server: &FluoroServer) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap() })
}

/// A summary the SDKs cannot send but other clients do, beside a gauge: the gauge is kept.
fn send_unsupported_and_oversized(server: &FluoroServer, now: f64) {
    let nanos = format!("{}", (now * 1e9) as u64);
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "legacy"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "rpc.duration", "summary": {"dataPoints": [{"timeUnixNano": nanos, "count": "2", "sum": 1.0}]}},
            {"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": nanos, "asInt": "12"}]}}
        ]}]
    }]});
    let url = format!("http://{}/v1/metrics", server.addresses["otlp-http"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let response = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["partialSuccess"]["rejectedDataPoints"], 1, "{answer}");
        let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("\"rpc.duration\"") && message.contains("summary metrics are not supported"),
            "{message}"
        );

        let oversized = vec![b'x'; fluoro_collector::MAX_OTLP_REQUEST_BYTES + 1];
        let response = client.post(&url).header("content-type", "application/x-protobuf").body(oversized).send().await;
        assert_eq!(response.unwrap().status(), 413);
    });
    let window = json!({"StartTime": now - 60.0, "EndTime": now + 60.0, "Service": "legacy", "Name": "queue.depth", "Period": 0});
    assert_eq!(values(&server.post("/api/metrics/series", window)), [12.0], "the rest of the request is kept");
}

#[test]
fn fluoro_serve_keeps_sdk_metrics_through_a_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(data.path());
    let grpc = format!("http://{}", server.addresses["otlp-grpc"]);
    let http = format!("http://{}", server.addresses["otlp-http"]);

    let over_grpc = export_with_python_sdk("grpc", &grpc, "orders-grpc");
    let over_http = export_with_python_sdk("http", &http, "orders-http");
    send_unsupported_and_oversized(&server, over_http.1);

    assert_found(&server, "orders-grpc", over_grpc);
    assert_found(&server, "orders-http", over_http);
    let text = metrics_text(&server);
    // Two collections of 1 gauge + 2 cpu series + 1 counter + 1 histogram.
    assert!(text.contains("fluoro_accepted_total{source=\"otlp_grpc_metrics\"} 10\n"), "{text}");
    assert!(text.contains("fluoro_accepted_total{source=\"otlp_http_metrics\"} 11\n"), "{text}");
    assert!(text.contains("fluoro_rejected_total{source=\"otlp_http_metrics\",reason=\"unsupported\"} 1\n"), "{text}");
    assert!(text.contains("fluoro_rejected_total{source=\"otlp_http_metrics\",reason=\"too_large\"} 1\n"), "{text}");

    let median = json!({"StartTime": 1, "EndTime": 2, "Service": "orders-grpc", "Name": "x", "Statistic": "median"});
    let (status, answer) = post_status(&server, "/api/metrics/series", median);
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().contains("Statistic \"median\" is not known"), "{answer}");
    let backwards = json!({"StartTime": 2, "EndTime": 1, "Service": "orders-grpc"});
    let (status, answer) = post_status(&server, "/api/services/resources", backwards);
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().contains("must be after StartTime"), "{answer}");

    // Every point above was acknowledged: a SIGKILL and a restart must keep them all.
    server.kill_hard();
    let restarted = FluoroServer::start(data.path());
    assert_found(&restarted, "orders-grpc", over_grpc);
    assert_found(&restarted, "orders-http", over_http);

    // A graceful stop flushes them into a metric block, read back after the next start.
    assert!(restarted.stop().success());
    let blocks = std::fs::read_dir(data.path().join("store/metrics/blocks")).unwrap().count();
    assert_eq!(blocks, 1, "one metric block after the graceful stop");
    let again = FluoroServer::start(data.path());
    assert_found(&again, "orders-http", over_http);
}
