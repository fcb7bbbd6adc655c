//! Metric data points are kept like spans and log records: readable as soon as they are
//! written, the same after a flush into a Parquet metric block (which DuckDB reads), recovered
//! from their own log after a crash, listed by service, and expired by retention.

use std::path::Path;
use std::process::Command;

use fluoro_proto::{Durability, HistogramValue, MetricBatch, MetricKind, MetricPoint};
use fluoro_store::{MetricQuery, Store};

use crate::support::{config, open};

fn point(time_us: i64, service: &str, name: &str, kind: MetricKind, attributes: &str, value: f64) -> MetricPoint {
    MetricPoint {
        time_us,
        start_us: if kind == MetricKind::Gauge { 0 } else { 500 },
        service: service.to_owned(),
        name: name.to_owned(),
        unit: "1".to_owned(),
        kind,
        attributes: attributes.to_owned(),
        value: Some(value),
        histogram: None,
    }
}

fn histogram(time_us: i64, counts: Vec<u64>) -> MetricPoint {
    let count = counts.iter().sum();
    MetricPoint {
        value: None,
        histogram: Some(HistogramValue {
            count,
            sum: Some(1.5),
            min: Some(0.01),
            max: Some(0.9),
            bounds: vec![0.1, 0.5],
            counts,
        }),
        unit: "s".to_owned(),
        ..point(time_us, "pet-search", "http.server.duration", MetricKind::CumulativeHistogram, "{}", 0.0)
    }
}

/// A gauge, a counter with two series (sent out of order) and a histogram, plus another service.
fn points() -> Vec<MetricPoint> {
    vec![
        point(2_000, "pet-search", "requests", MetricKind::CumulativeSum, r#"{"route":"/b"}"#, 7.0),
        point(1_000, "pet-search", "requests", MetricKind::CumulativeSum, r#"{"route":"/a"}"#, 3.0),
        point(1_000, "pet-search", "requests", MetricKind::CumulativeSum, r#"{"route":"/b"}"#, 5.0),
        point(2_000, "pet-search", "requests", MetricKind::CumulativeSum, r#"{"route":"/a"}"#, 4.0),
        point(1_000, "pet-search", "process.memory.usage", MetricKind::Gauge, "{}", 1e8),
        histogram(1_000, vec![1, 2, 0]),
        histogram(2_000, vec![2, 3, 1]),
        point(1_500, "payments", "requests", MetricKind::DeltaSum, "{}", 2.0),
    ]
}

fn write_points(store: &Store) {
    store.write_metrics(MetricBatch { points: points(), durability: Durability::Acknowledged }).unwrap();
}

fn query(name: &str) -> MetricQuery {
    MetricQuery { service: "pet-search".to_owned(), name: name.to_owned(), from_us: 0, to_us: 10_000 }
}

fn assert_found(store: &Store) {
    let requests = store.metric_points(&query("requests")).unwrap();
    let series: Vec<(&str, i64, Option<f64>)> =
        requests.iter().map(|p| (p.attributes.as_str(), p.time_us, p.value)).collect();
    assert_eq!(
        series,
        [
            (r#"{"route":"/a"}"#, 1_000, Some(3.0)),
            (r#"{"route":"/a"}"#, 2_000, Some(4.0)),
            (r#"{"route":"/b"}"#, 1_000, Some(5.0)),
            (r#"{"route":"/b"}"#, 2_000, Some(7.0)),
        ],
        "by series, then time"
    );
    let latency = store.metric_points(&query("http.server.duration")).unwrap();
    assert_eq!(latency, vec![histogram(1_000, vec![1, 2, 0]), histogram(2_000, vec![2, 3, 1])]);
    let window = MetricQuery { from_us: 1_500, ..query("requests") };
    assert_eq!(store.metric_points(&window).unwrap().len(), 2);

    let names: Vec<(String, String, MetricKind)> = store
        .metric_names(Some("pet-search"), 0, 10_000)
        .unwrap()
        .into_iter()
        .map(|name| (name.name, name.unit, name.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("http.server.duration".to_owned(), "s".to_owned(), MetricKind::CumulativeHistogram),
            ("process.memory.usage".to_owned(), "1".to_owned(), MetricKind::Gauge),
            ("requests".to_owned(), "1".to_owned(), MetricKind::CumulativeSum),
        ]
    );
    assert_eq!(store.metric_names(None, 0, 10_000).unwrap().len(), 4);
}

#[test]
fn metric_points_are_readable_at_once_and_from_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write_points(&store);
    assert_eq!(store.recent_metric_points(), 8);
    assert_found(&store);

    store.flush().unwrap();

    assert_eq!(store.recent_metric_points(), 0);
    assert_eq!(store.metric_block_files().len(), 1);
    assert!(store.log_block_files().is_empty() && store.block_files().is_empty());
    assert_found(&store);
}

#[test]
fn acknowledged_metric_points_survive_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        write_points(&store);
        store.flush().unwrap();
        let later = vec![point(3_000, "pet-search", "requests", MetricKind::CumulativeSum, r#"{"route":"/a"}"#, 9.0)];
        store.write_metrics(MetricBatch { points: later, durability: Durability::Acknowledged }).unwrap();
        // Dropped without `close`: what a crash leaves.
    }
    let store = open(dir.path());
    assert_eq!(store.recent_metric_points(), 1, "the point after the flush is replayed from the log");
    assert_eq!(store.metric_points(&query("requests")).unwrap().len(), 5);
    store.close().unwrap();

    let reopened = open(dir.path());
    assert_eq!((reopened.recent_metric_points(), reopened.metric_block_files().len()), (0, 2));
    assert_eq!(reopened.metric_points(&query("requests")).unwrap().len(), 5);
}

#[test]
fn metric_blocks_expire_with_the_retention_period() {
    let dir = tempfile::tempdir().unwrap();
    let retention = std::time::Duration::from_secs(1);
    let store = Store::open(fluoro_store::StoreConfig { retention_max_age: retention, ..config(dir.path()) }).unwrap();
    write_points(&store); // written in 1970
    store.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    store.maintain().unwrap();

    assert!(store.metric_block_files().is_empty());
    assert!(store.metric_points(&query("requests")).unwrap().is_empty());
}

#[test]
fn duckdb_reads_a_metric_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write_points(&store);
    store.flush().unwrap();
    let (_, block) = store.metric_block_files().remove(0);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/duckdb_metrics.py");

    let output = Command::new("python3").arg(script).arg(&block).output().unwrap();

    assert!(output.status.success(), "duckdb_metrics.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["rows"], 8);
    assert_eq!(result["kinds"], serde_json::json!(["gauge", "histogram_cumulative", "sum_cumulative", "sum_delta"]));
    assert_eq!(result["route_a_increase"], 1.0, "last minus first of one cumulative series");
    assert_eq!(result["last_histogram"], serde_json::json!({"bounds": [0.1, 0.5], "counts": [2, 3, 1], "count": 6}));
    let footer: serde_json::Value = serde_json::from_str(result["footer"].as_str().unwrap()).unwrap();
    assert_eq!(footer["services"], serde_json::json!(["payments", "pet-search"]));
}
