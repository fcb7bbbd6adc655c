#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use fluoro_proto::{parse_document, Durability, MetricPoint, SpanBatch};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};

use super::*;
use crate::groups::NewGroup;

/// A minute start (epoch seconds).
pub(crate) const MINUTE: i64 = 1_700_000_040;

pub(crate) fn open(dir: &Path) -> Store {
    let config = StoreConfig {
        flush_rows: 1_000_000,
        flush_age: Duration::from_secs(3600),
        sync_interval: Duration::from_millis(20),
        ..StoreConfig::new(dir)
    };
    Store::open(config).unwrap()
}

/// One trace: `api` (the root segment, of status `class`, `millis` long, starting at `start`)
/// calls `backend` (a traced HTTP call answered by backend's own segment, always ok).
pub(crate) fn trace(n: u64, start: f64, millis: f64, class: &str) -> Vec<Value> {
    let trace_id = format!("1-{:08x}-{:024x}", start as u64, n);
    let end = start + millis / 1000.0;
    let status = match class {
        "fault" => json!({"fault": true, "http": {"response": {"status": 500}}}),
        "throttle" => json!({"error": true, "throttle": true, "http": {"response": {"status": 429}}}),
        "error" => json!({"error": true, "http": {"response": {"status": 404}}}),
        _ => json!({"http": {"response": {"status": 200}}}),
    };
    let mut api = json!({"name": "api", "id": format!("{:016x}", n << 8 | 1), "trace_id": trace_id,
        "start_time": start, "end_time": end, "origin": "AWS::EC2::Instance",
        "subsegments": [{"id": format!("{:016x}", n << 8 | 2), "name": "backend", "namespace": "remote",
            "start_time": start + 0.001, "end_time": end - 0.001,
            "http": {"request": {"url": "http://backend/", "traced": true}, "response": {"status": 200}}}]});
    if let (Some(api), Value::Object(status)) = (api.as_object_mut(), status) {
        api.extend(status);
    }
    let backend = json!({"name": "backend", "id": format!("{:016x}", n << 8 | 3), "trace_id": trace_id,
        "parent_id": format!("{:016x}", n << 8 | 2), "start_time": start + 0.002, "end_time": end - 0.002,
        "origin": "AWS::ECS::Container", "http": {"response": {"status": 200}}});
    vec![api, backend]
}

pub(crate) fn put(store: &Store, documents: &[Value]) {
    let mut batch = SpanBatch::new(Durability::Acknowledged);
    for document in documents {
        batch.push_document(parse_document(document.to_string().as_bytes()).unwrap(), None);
    }
    store.write(batch).unwrap();
}

pub(crate) fn value(points: &[MetricPoint], name: &str, attributes: Value) -> Option<f64> {
    let attributes = attributes.to_string();
    let mut found = points.iter().filter(|point| point.name == name && point.attributes == attributes);
    let point = found.next()?;
    assert!(found.next().is_none(), "one point per series and minute");
    point.value
}

fn groups() -> Groups {
    let groups = Groups::in_memory();
    let faulty =
        NewGroup { name: "faulty".to_owned(), filter_expression: Some("fault".to_owned()), ..NewGroup::default() };
    groups.create(faulty).unwrap();
    groups
}

/// Three traces in the minute (ok 100 ms, throttle 200 ms, fault 300 ms), one that started in
/// the minute before and runs into it, one in the minute after.
fn store_with_a_minute(dir: &Path) -> Store {
    let store = open(dir);
    let minute = MINUTE as f64;
    let mut documents = trace(1, minute + 1.0, 100.0, "ok");
    documents.extend(trace(2, minute + 20.0, 200.0, "throttle"));
    documents.extend(trace(3, minute + 40.0, 300.0, "fault"));
    // Starts 0.5 s before the minute; its backend segment starts in the minute.
    let mut early = trace(4, minute - 0.5, 1000.0, "ok");
    early[1]["start_time"] = json!(minute + 0.1);
    documents.extend(early);
    documents.extend(trace(5, minute + 61.0, 100.0, "fault"));
    put(&store, &documents);
    store
}

#[test]
fn approximate_trace_count_counts_each_group_s_traces_by_their_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_minute(dir.path());
    let points = group_metrics_of_minute(&store, &groups(), MINUTE).unwrap();
    assert!(points.iter().all(|point| point.service == "AWS/X-Ray" && point.time_us == MINUTE * 1_000_000));
    assert_eq!(value(&points, "ApproximateTraceCount", json!({"GroupName": "Default"})), Some(3.0));
    assert_eq!(value(&points, "ApproximateTraceCount", json!({"GroupName": "faulty"})), Some(1.0));
    let before = group_metrics_of_minute(&store, &groups(), MINUTE - 60).unwrap();
    assert_eq!(value(&before, "ApproximateTraceCount", json!({"GroupName": "Default"})), Some(1.0));
    let quiet = group_metrics_of_minute(&store, &groups(), MINUTE - 600).unwrap();
    assert_eq!(value(&quiet, "ApproximateTraceCount", json!({"GroupName": "Default"})), Some(0.0), "0, not missing");
    assert_eq!(value(&quiet, "ApproximateTraceCount", json!({"GroupName": "faulty"})), Some(0.0));
    assert_eq!(quiet.len(), 2, "no node points without requests");
}

#[test]
fn node_and_edge_counts_and_percentiles_are_the_minute_s_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_minute(dir.path());
    let points = group_metrics_of_minute(&store, &groups(), MINUTE).unwrap();
    let api = json!({"GroupName": "Default", "ServiceName": "api", "ServiceType": "AWS::EC2::Instance"});
    let count = |name: &str, dimensions: &Value| value(&points, name, dimensions.clone());
    // The early trace's api segment started before the minute: not one of its requests.
    assert_eq!(count("TotalCount", &api), Some(3.0));
    assert_eq!(count("OkCount", &api), Some(1.0));
    assert_eq!(count("ThrottleCount", &api), Some(1.0));
    assert_eq!(count("FaultCount", &api), Some(1.0));
    assert_eq!(count("ErrorCount", &api), Some(0.0));
    let p50 = count("ResponseTimeP50", &api).unwrap();
    let p99 = count("ResponseTimeP99", &api).unwrap();
    assert!((p50 - 0.2).abs() < 0.001 && (p99 - 0.3).abs() < 0.001, "p50 {p50}, p99 {p99}");
    // The early trace's backend segment did start in the minute.
    let backend = json!({"GroupName": "Default", "ServiceName": "backend", "ServiceType": "AWS::ECS::Container"});
    assert_eq!(count("TotalCount", &backend), Some(4.0));
    assert_eq!(count("OkCount", &backend), Some(4.0));
    let edge = json!({"DestinationName": "backend", "DestinationType": "AWS::ECS::Container", "GroupName": "Default",
                      "ServiceName": "api", "ServiceType": "AWS::EC2::Instance"});
    assert_eq!(count("TotalCount", &edge), Some(3.0));
    // The faulty group's graph holds its one trace.
    let faulty_api = json!({"GroupName": "faulty", "ServiceName": "api", "ServiceType": "AWS::EC2::Instance"});
    assert_eq!(count("TotalCount", &faulty_api), Some(1.0));
    assert_eq!(count("FaultCount", &faulty_api), Some(1.0));
    let client = json!({"GroupName": "Default", "ServiceName": "api", "ServiceType": "client"});
    assert_eq!(count("TotalCount", &client), None, "a client node handles no requests");
}

#[test]
fn a_group_referring_to_another_group_counts_through_its_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_minute(dir.path());
    let groups = groups();
    let nested = NewGroup {
        name: "nested".to_owned(),
        filter_expression: Some("group.name = \"faulty\"".to_owned()),
        ..NewGroup::default()
    };
    groups.create(nested).unwrap();
    let points = group_metrics_of_minute(&store, &groups, MINUTE).unwrap();
    assert_eq!(value(&points, "ApproximateTraceCount", json!({"GroupName": "nested"})), Some(1.0));
    assert_eq!(value(&points, "ApproximateTraceCount", json!({"GroupName": "Default"})), Some(3.0));
}
