//! A pet store with a known topology and known counts per edge and status class, for the
//! service-graph, trace-graph and time-series tests.
//!
//! ```text
//! client → petsite (AWS::EC2::Instance, account 123456789012)
//!            ├─ petsearch (traced HTTP)      → petsearch (AWS::ECS::Container) → DynamoDB table "pets"
//!            ├─ payforadoption (traced HTTP) → payforadoption (AWS::ECS::Container)
//!            │                                    ├─ petstore@db (SQL)   → Database::SQL
//!            │                                    └─ SQS queue_url       → AWS::SQS::Queue
//!            ├─ render (local)                → no node
//!            └─ traced.example (traced, no segment arrives) → no node
//! ```
//!
//! Trace `i` of [`TRACES`] starts at `BASE + 10·i` seconds. Its petsite → petsearch call is a
//! fault when `i % 10 == 0`, a throttle when `i % 10 == 1`, an error when `i % 10` is 2 or 3,
//! else ok, and lasts `10·(i+1)` ms. Even traces call payforadoption (80 ms, ok); its SQS call
//! is throttled in trace 0. Root segments are ok except trace 19, a fault.

use std::path::Path;
use std::time::Duration;

use fluoro_proto::{parse_document, TraceId};
use fluoro_proto::{Durability, SpanBatch};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};

pub(crate) const TRACES: usize = 20;
/// Epoch seconds of trace 0; a multiple of 300 so 1- and 5-minute buckets start there.
pub(crate) const BASE: f64 = 1_700_000_100.0;
pub(crate) const ACCOUNT: &str = "123456789012";

pub(crate) fn open(dir: &Path) -> Store {
    let config = StoreConfig {
        flush_rows: 1_000_000,
        flush_age: Duration::from_secs(3600),
        sync_interval: Duration::from_millis(20),
        ..StoreConfig::new(dir)
    };
    Store::open(config).unwrap()
}

pub(crate) fn put(store: &Store, documents: &[Value]) {
    let mut batch = SpanBatch::new(Durability::Acknowledged);
    for document in documents {
        batch.push_document(parse_document(document.to_string().as_bytes()).unwrap(), None);
    }
    store.write(batch).unwrap();
}

pub(crate) fn trace_id(i: usize) -> String {
    format!("1-{:08x}-{:024x}", BASE as u64 + 10 * i as u64, 0xabc000 + i)
}

pub(crate) fn parsed_trace_id(i: usize) -> TraceId {
    trace_id(i).parse().unwrap()
}

/// A 16-hex-digit id unique to trace `i` and role `role`.
pub(crate) fn span_id(i: usize, role: u64) -> String {
    format!("{:016x}", (i as u64 + 1) << 8 | role)
}

/// The status fields of a class: `ok`, `error`, `throttle` or `fault`.
pub(crate) fn status(class: &str) -> Value {
    match class {
        "fault" => json!({"fault": true, "http": {"response": {"status": 500}}}),
        "throttle" => json!({"error": true, "throttle": true, "http": {"response": {"status": 429}}}),
        "error" => json!({"error": true, "http": {"response": {"status": 404}}}),
        _ => json!({"http": {"response": {"status": 200}}}),
    }
}

pub(crate) fn petsearch_class(i: usize) -> &'static str {
    match i % 10 {
        0 => "fault",
        1 => "throttle",
        2 | 3 => "error",
        _ => "ok",
    }
}

fn merge(mut document: Value, extra: Value) -> Value {
    let (Some(target), Value::Object(extra)) = (document.as_object_mut(), extra) else { return document };
    for (key, value) in extra {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
    document
}

/// The documents of trace `i`: petsite's segment, petsearch's, and on even traces payforadoption's.
pub(crate) fn trace_documents(i: usize) -> Vec<Value> {
    let trace = trace_id(i);
    let start = BASE + 10.0 * i as f64;
    let petsearch_ms = 10.0 * (i + 1) as f64;
    let petsearch_call = merge(
        json!({"id": span_id(i, 2), "name": "petsearch", "namespace": "remote",
               "start_time": start + 0.1, "end_time": start + 0.1 + petsearch_ms / 1000.0,
               "http": {"request": {"method": "GET", "url": "http://petsearch/api", "traced": true}}}),
        status(petsearch_class(i)),
    );
    let mut petsite_subsegments = vec![
        petsearch_call,
        json!({"id": span_id(i, 3), "name": "render", "start_time": start + 0.5, "end_time": start + 0.6}),
        json!({"id": span_id(i, 4), "name": "traced.example", "namespace": "remote", "start_time": start + 0.6,
               "end_time": start + 0.61, "http": {"request": {"url": "http://traced.example/", "traced": true}}}),
    ];
    if i % 2 == 0 {
        petsite_subsegments.push(json!({"id": span_id(i, 5), "name": "payforadoption", "namespace": "remote",
            "start_time": start + 0.7, "end_time": start + 0.78,
            "http": {"request": {"url": "http://payforadoption/pay", "traced": true}, "response": {"status": 200}}}));
    }
    let root_class = if i == 19 { "fault" } else { "ok" };
    let petsite = merge(
        json!({"name": "petsite", "id": span_id(i, 1), "trace_id": trace, "start_time": start,
               "end_time": start + 1.0 + i as f64 / 1000.0, "origin": "AWS::EC2::Instance",
               "aws": {"account_id": ACCOUNT}, "subsegments": petsite_subsegments}),
        status(root_class),
    );
    let petsearch = json!({"name": "petsearch", "id": span_id(i, 10), "trace_id": trace, "parent_id": span_id(i, 2),
        "start_time": start + 0.101, "end_time": start + 0.1 + petsearch_ms / 1000.0 - 0.001,
        "origin": "AWS::ECS::Container",
        "subsegments": [{"id": span_id(i, 11), "name": "DynamoDB", "namespace": "aws", "start_time": start + 0.102,
                         "end_time": start + 0.107, "aws": {"operation": "Query", "table_name": "pets"}}]});
    let mut documents = vec![petsite, petsearch];
    if i % 2 == 0 {
        let sqs_status = if i == 0 { status("throttle") } else { json!({}) };
        let sqs = merge(
            json!({"id": span_id(i, 22), "name": "SQS", "namespace": "aws", "start_time": start + 0.75,
                   "end_time": start + 0.77, "aws": {"operation": "SendMessage",
                   "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/adoptions"}}),
            sqs_status,
        );
        documents.push(json!({"name": "payforadoption", "id": span_id(i, 20), "trace_id": trace,
        "parent_id": span_id(i, 5), "start_time": start + 0.701, "end_time": start + 0.779,
        "origin": "AWS::ECS::Container",
        "subsegments": [
            {"id": span_id(i, 21), "name": "petstore@db.example", "namespace": "remote",
             "start_time": start + 0.71, "end_time": start + 0.74,
             "sql": {"url": "postgresql://db.example:5432/petstore", "database_type": "PostgreSQL"}},
            sqs
        ]}));
    }
    documents
}

/// A store holding the [`TRACES`] pet-store traces.
pub(crate) fn petstore(dir: &Path) -> Store {
    let store = open(dir);
    let documents: Vec<Value> = (0..TRACES).flat_map(trace_documents).collect();
    put(&store, &documents);
    store
}

/// Microseconds of `BASE + seconds`.
pub(crate) fn at_us(seconds: f64) -> i64 {
    ((BASE + seconds) * 1e6).round() as i64
}
