//! `POST /api/metrics/names`, `/api/metrics/series` and `/api/services/resources` over real
//! HTTP: the exact answer shapes the dashboard reads, and 400s that say what was wrong.

use std::sync::Arc;

use fluoro_proto::{Durability, HistogramValue, MetricBatch, MetricKind, MetricPoint};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::api_server::{post, serve};

const T0: f64 = 1_700_000_040.0; // a minute boundary

fn point(seconds: f64, name: &str, kind: MetricKind, attributes: &str, value: f64) -> MetricPoint {
    MetricPoint {
        time_us: ((T0 + seconds) * 1e6) as i64,
        start_us: if kind == MetricKind::Gauge { 0 } else { ((T0 - 5.0) * 1e6) as i64 },
        service: "web".to_owned(),
        name: name.to_owned(),
        unit: if name.starts_with("process.memory") { "By" } else { "s" }.to_owned(),
        kind,
        attributes: attributes.to_owned(),
        value: Some(value),
        histogram: None,
    }
}

fn store(dir: &TempDir) -> Arc<Store> {
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let cpu =
        |seconds, value| point(seconds, "process.cpu.time", MetricKind::CumulativeSum, r#"{"state":"user"}"#, value);
    let memory = |seconds, value| point(seconds, "process.memory.usage", MetricKind::Gauge, "{}", value);
    let mut latency = point(30.0, "http.server.duration", MetricKind::DeltaHistogram, "{}", 0.0);
    latency.value = None;
    latency.histogram = Some(HistogramValue {
        count: 2,
        sum: Some(0.3),
        min: Some(0.1),
        max: Some(0.2),
        bounds: vec![0.25],
        counts: vec![2, 0],
    });
    let points = vec![cpu(10.0, 3.0), cpu(70.0, 9.0), memory(10.0, 100.0), memory(20.0, 300.0), latency];
    store.write_metrics(MetricBatch { points, durability: Durability::Acknowledged }).unwrap();
    Arc::new(store)
}

fn window(fields: Value) -> Value {
    let mut body = json!({"StartTime": T0, "EndTime": T0 + 120.0});
    body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn names_series_and_resources_have_their_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;

    let (status, _, names) = post(address, "/api/metrics/names", window(json!({}))).await;
    assert_eq!(status, 200, "{names}");
    assert_eq!(
        names,
        json!({"Metrics": [
            {"Service": "web", "Name": "http.server.duration", "Unit": "s", "Kind": "histogram_delta"},
            {"Service": "web", "Name": "process.cpu.time", "Unit": "s", "Kind": "sum_cumulative"},
            {"Service": "web", "Name": "process.memory.usage", "Unit": "By", "Kind": "gauge"}]})
    );

    let cpu = window(json!({"Service": "web", "Name": "process.cpu.time", "Statistic": "sum", "Period": 60}));
    let (status, _, series) = post(address, "/api/metrics/series", cpu).await;
    assert_eq!(status, 200, "{series}");
    assert_eq!(
        series,
        json!({"Service": "web", "Name": "process.cpu.time", "Unit": "s", "Kind": "sum_cumulative",
               "Statistic": "sum", "Period": 60, "SeriesCount": 1,
               "Values": [{"Timestamp": T0, "Value": 3.0}, {"Timestamp": T0 + 60.0, "Value": 6.0}]})
    );

    let raw = window(json!({"Service": "web", "Name": "process.memory.usage", "Attributes": {}}));
    let (_, _, series) = post(address, "/api/metrics/series", raw).await;
    assert_eq!(series["Period"], Value::Null);
    assert_eq!(
        series["Values"],
        json!([{"Timestamp": T0 + 10.0, "Value": 100.0, "Attributes": {}},
               {"Timestamp": T0 + 20.0, "Value": 300.0, "Attributes": {}}])
    );

    let p50 = window(json!({"Service": "web", "Name": "http.server.duration", "Statistic": "P50", "Period": 120}));
    let (_, _, series) = post(address, "/api/metrics/series", p50).await;
    assert_eq!(series["Values"], json!([{"Timestamp": T0, "Value": 0.175}]), "interpolated from the recorded min 0.1");

    let (status, _, view) = post(address, "/api/services/resources", window(json!({"Service": "web"}))).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view,
        json!({"Service": "web", "Period": 60,
               "CpuSource": {"Metric": "process.cpu.time", "Unit": "s"},
               "MemorySource": {"Metric": "process.memory.usage", "Unit": "By"},
               "Buckets": [
                 {"Timestamp": T0, "Cpu": 0.05, "Memory": 200.0, "Requests": 0, "RequestRate": 0.0,
                  "FaultRate": null, "LatencyAvg": null, "LatencyP99": null},
                 {"Timestamp": T0 + 60.0, "Cpu": 0.1, "Memory": null, "Requests": 0, "RequestRate": 0.0,
                  "FaultRate": null, "LatencyAvg": null, "LatencyP99": null}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_400s_that_say_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    let series = |fields: Value| {
        let mut body = window(json!({"Service": "web", "Name": "process.memory.usage"}));
        body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        body
    };
    let cases = [
        ("/api/metrics/series", series(json!({"Statistic": "median"})), "Statistic \"median\" is not known"),
        ("/api/metrics/series", series(json!({"Statistic": "p99"})), "needs a histogram"),
        ("/api/metrics/series", series(json!({"Period": 90})), "Period 90 is not supported"),
        ("/api/metrics/series", series(json!({"Service": " "})), "Service must not be empty"),
        ("/api/metrics/series", series(json!({"Colour": "red"})), "unknown field `Colour`"),
        ("/api/metrics/names", json!({"StartTime": T0, "EndTime": T0 - 1.0}), "must be after StartTime"),
        ("/api/services/resources", window(json!({"Service": "web", "Period": 30})), "Period 30 is not supported"),
        ("/api/services/resources", json!({"StartTime": T0, "EndTime": T0 + 200_000.0, "Service": "web"}), "at most"),
    ];
    for (path, body, expected) in cases {
        let (status, error_type, answer) = post(address, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(error_type.as_deref(), Some("InvalidRequestException"));
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(expected), "{path} {body}: {message}");
    }
}
