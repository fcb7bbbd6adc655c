//! A filter's latency report is exact (analyzer issue, "Latency histograms … per filter"):
//! twelve traces with hand-chosen response times, where the percentiles, mean and bucket counts
//! below were worked out by hand from the sorted values.
//!
//! ```text
//! trace  root  response (ms)  duration (ms)
//! 1-10   web   100 105 109.999 150 200 250 300 1000 1500 3000
//!                             (trace 7's worker ends at 2000 ms, so its duration is 2000)
//! 11-12  api   5000 50
//! ```
//!
//! Sorted web response times, n = 10, nearest rank `sorted[ceil(q·n) − 1]`:
//! p50 = 5th = 200 ms, p90 = 9th = 1500 ms, p95 = p99 = 10th = 3000 ms; mean 6714.999 / 10.
//! hdrhistogram at 3 digits would say 200.063 ms for the p50 (its cell holding 200 000 µs is
//! 128 µs wide), which is why the report does not read it from one.

use fluoro_analyzer::{
    filter_latency, parse_filter, AnalyzerError, GroupRef, HistogramEntry, LatencyQuery, NoGroups, Percentiles,
};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::petstore::put;

const T0: f64 = 1_700_000_000.0;
const FROM_US: i64 = 1_700_000_000_000_000;
const TO_US: i64 = FROM_US + 60 * 1_000_000;
const WEB_RESPONSE_MS: [f64; 10] = [100.0, 105.0, 109.999, 150.0, 200.0, 250.0, 300.0, 1000.0, 1500.0, 3000.0];

fn root(number: u32, name: &str, response_ms: f64) -> Value {
    let start = T0 + f64::from(number);
    json!({"trace_id": format!("1-{:08x}-{:024x}", T0 as u32 + number, number), "id": format!("{number:016x}"),
           "name": name, "start_time": start, "end_time": start + response_ms / 1000.0})
}

/// Trace 7's root hands work to a queue; the worker's segment ends at 2 s.
fn with_async_worker(mut root: Value) -> Vec<Value> {
    let start = root["start_time"].as_f64().unwrap();
    root["subsegments"] = json!([{"id": "00000000000000a7", "name": "SQS", "namespace": "aws",
                                  "start_time": start + 0.01, "end_time": start + 0.02}]);
    let worker = json!({"trace_id": root["trace_id"], "id": "00000000000000b7", "parent_id": "00000000000000a7",
                        "name": "worker", "start_time": start + 0.25, "end_time": start + 2.0});
    vec![root, worker]
}

fn store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    for (number, response_ms) in (1..).zip(WEB_RESPONSE_MS) {
        let documents = match number {
            7 => with_async_worker(root(number, "web", response_ms)),
            _ => vec![root(number, "web", response_ms)],
        };
        put(&store, &documents);
    }
    put(&store, &[root(11, "api", 5000.0), root(12, "api", 50.0)]);
    (store, dir)
}

fn query(filter: &str) -> LatencyQuery {
    LatencyQuery { from_us: FROM_US, to_us: TO_US, filter: Some(parse_filter(filter).unwrap()), group: None }
}

fn entries(pairs: &[(f64, u64)]) -> Vec<HistogramEntry> {
    pairs.iter().map(|&(value, count)| HistogramEntry { value, count }).collect()
}

#[test]
fn percentiles_mean_and_buckets_are_the_hand_worked_ones() {
    let (store, _dir) = store();
    let report = filter_latency(&store, &query(r#"service("web")"#), &NoGroups).unwrap();
    assert_eq!(report.traces, 10);

    let response = &report.response_time;
    assert_eq!(response.count, 10);
    let summary = response.summary.unwrap();
    assert_eq!((summary.min, summary.max), (0.1, 3.0));
    assert!((summary.mean - 0.671_499_9).abs() < 1e-12, "{summary:?}");
    assert_eq!(summary.percentiles, Percentiles { p50: 0.2, p90: 1.5, p95: 3.0, p99: 3.0 });
    let json = serde_json::to_value(summary).unwrap();
    assert_eq!((&json["Min"], &json["P50"], &json["P99"]), (&json!(0.1), &json!(0.2), &json!(3.0)), "flat: {json}");
    // 100, 105 and 109.999 ms share the [100 ms, 110 ms) bucket.
    let expected = [(0.1, 3), (0.15, 1), (0.2, 1), (0.25, 1), (0.3, 1), (1.0, 1), (1.5, 1), (3.0, 1)];
    assert_eq!(response.distribution, entries(&expected));

    // Durations: trace 7 lasts until its worker ends, 2 s; the rest as their response times.
    let duration = &report.duration;
    let summary = duration.summary.unwrap();
    assert_eq!(summary.percentiles, Percentiles { p50: 0.2, p90: 2.0, p95: 3.0, p99: 3.0 });
    assert!((summary.mean - 0.841_499_9).abs() < 1e-12, "{summary:?}");
    let expected = [(0.1, 3), (0.15, 1), (0.2, 1), (0.25, 1), (1.0, 1), (1.5, 1), (2.0, 1), (3.0, 1)];
    assert_eq!(duration.distribution, entries(&expected));
}

#[test]
fn no_filter_is_every_trace_and_a_group_narrows_the_filter() {
    let (store, _dir) = store();
    let everything = LatencyQuery { filter: None, ..query("ok") };
    let report = filter_latency(&store, &everything, &NoGroups).unwrap();
    assert_eq!((report.traces, report.response_time.count), (12, 12));
    assert_eq!(report.response_time.summary.unwrap().max, 5.0);
    // Without a filter the durations come from the per-trace fold, not the trace frame: the
    // same once the spans are read from a block.
    store.flush().unwrap();
    assert_eq!(filter_latency(&store, &everything, &NoGroups).unwrap(), report, "from a block as from recent data");

    let slow = |group: &GroupRef| (*group == GroupRef::Name("slow".to_owned())).then(|| "responsetime >= 1".to_owned());
    let scoped = LatencyQuery { group: Some(GroupRef::Name("slow".to_owned())), ..query(r#"service("web")"#) };
    let report = filter_latency(&store, &scoped, &slow).unwrap();
    // 1000, 1500, 3000 ms: p50 is the 2nd of 3, p90 the 3rd.
    let percentiles = report.response_time.summary.unwrap().percentiles;
    assert_eq!(percentiles, Percentiles { p50: 1.5, p90: 3.0, p95: 3.0, p99: 3.0 });

    let unknown = LatencyQuery { group: Some(GroupRef::Name("nope".to_owned())), ..query("ok") };
    let error = filter_latency(&store, &unknown, &slow).unwrap_err();
    assert!(matches!(&error, AnalyzerError::InvalidRequest(message) if message == "group \"nope\" does not exist"));
}

#[test]
fn an_empty_window_has_no_statistics() {
    let (store, _dir) = store();
    let before = LatencyQuery { from_us: FROM_US - 60_000_000, to_us: FROM_US, ..query("ok") };
    let report = filter_latency(&store, &before, &NoGroups).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json,
        json!({"Traces": 0, "ResponseTime": {"Count": 0, "Summary": null, "Distribution": []},
               "Duration": {"Count": 0, "Summary": null, "Distribution": []}})
    );
}
