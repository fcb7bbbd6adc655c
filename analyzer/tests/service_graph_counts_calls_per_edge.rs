//! The service graph of the pet store (see `petstore.rs`): the exact node set, types, edges,
//! counts per status class and total response times.

use fluoro_analyzer::{service_graph, trace_graph, ServiceGraph, Statistics, TraceIdSet};
use serde_json::{json, Value};

use crate::petstore::{self, at_us, parsed_trace_id, ACCOUNT, TRACES};

const EC2: &str = "AWS::EC2::Instance";
const ECS: &str = "AWS::ECS::Container";

fn whole_graph() -> (tempfile::TempDir, ServiceGraph) {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    let graph = service_graph(&store, at_us(-1.0), at_us(1000.0), None).unwrap();
    (dir, graph)
}

/// (ok, error other, throttle, fault, total response time in seconds)
fn counts(statistics: &Statistics) -> (u64, u64, u64, u64, f64) {
    assert_eq!(
        statistics.error_statistics.total_count,
        statistics.error_statistics.other_count + statistics.error_statistics.throttle_count
    );
    assert_eq!(statistics.fault_statistics.total_count, statistics.fault_statistics.other_count);
    let total = statistics.ok_count + statistics.error_statistics.total_count + statistics.fault_statistics.total_count;
    assert_eq!(statistics.total_count, total);
    (
        statistics.ok_count,
        statistics.error_statistics.other_count,
        statistics.error_statistics.throttle_count,
        statistics.fault_statistics.total_count,
        (statistics.total_response_time * 1e4).round() / 1e4,
    )
}

#[test]
fn nodes_are_services_clients_and_inferred_downstreams() {
    let (_dir, graph) = whole_graph();
    let mut nodes: Vec<(&str, &str, &str)> =
        graph.services.iter().map(|node| (node.name.as_str(), node.node_type.as_str(), node.state.as_str())).collect();
    nodes.sort();
    assert_eq!(
        nodes,
        vec![
            ("DynamoDB", "AWS::DynamoDB::Table", "unknown"),
            ("SQS", "AWS::SQS::Queue", "unknown"),
            ("payforadoption", ECS, "active"),
            ("petsearch", ECS, "active"),
            ("petsite", EC2, "active"),
            ("petsite", "client", "unknown"),
            ("petstore@db.example", "Database::SQL", "unknown"),
        ]
    );
    let petsite = graph.node("petsite", EC2).unwrap();
    assert!(petsite.root);
    assert_eq!(petsite.account_id.as_deref(), Some(ACCOUNT));
    assert!(!graph.node("petsearch", ECS).unwrap().root);
    assert!(graph.node("petsite", "client").unwrap().summary_statistics.is_none());
    let mut ids: Vec<u32> = graph.services.iter().map(|node| node.reference_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), graph.services.len(), "reference ids are unique");
}

#[test]
fn edges_carry_the_callers_counts_per_status_class() {
    let (_dir, graph) = whole_graph();
    let edge = |from: (&str, &str), to: (&str, &str)| {
        counts(&graph.edge(from, to).unwrap_or_else(|| panic!("edge {from:?} → {to:?}")).summary_statistics)
    };
    let petsite = ("petsite", EC2);
    // Root segments: ok except trace 19; 1 s + i ms each.
    assert_eq!(edge(("petsite", "client"), petsite), (19, 0, 0, 1, 20.19));
    // Faults i%10=0, throttles i%10=1, errors i%10∈{2,3}; 10·(i+1) ms each: 2.1 s.
    assert_eq!(edge(petsite, ("petsearch", ECS)), (12, 4, 2, 2, 2.1));
    assert_eq!(edge(petsite, ("payforadoption", ECS)), (10, 0, 0, 0, 0.8));
    assert_eq!(edge(("petsearch", ECS), ("DynamoDB", "AWS::DynamoDB::Table")), (20, 0, 0, 0, 0.1));
    assert_eq!(edge(("payforadoption", ECS), ("petstore@db.example", "Database::SQL")), (10, 0, 0, 0, 0.3));
    assert_eq!(edge(("payforadoption", ECS), ("SQS", "AWS::SQS::Queue")), (9, 0, 1, 0, 0.2));
    let edge_count: usize = graph.services.iter().map(|node| node.edges.len()).sum();
    assert_eq!(edge_count, 6, "no edge for the local or the unanswered traced subsegment");
}

#[test]
fn nodes_carry_their_own_segments_statistics() {
    let (_dir, graph) = whole_graph();
    let node = |name: &str, node_type: &str| counts(&graph.node(name, node_type).unwrap().summary_statistics.unwrap());
    assert_eq!(node("petsite", EC2), (19, 0, 0, 1, 20.19));
    // petsearch's own segments have no status: all ok, each 2 ms shorter than the call.
    assert_eq!(node("petsearch", ECS), (20, 0, 0, 0, 2.06));
    // Inferred nodes count the calls that inferred them.
    assert_eq!(node("SQS", "AWS::SQS::Queue"), (9, 0, 1, 0, 0.2));
    let petsite = graph.node("petsite", EC2).unwrap();
    assert_eq!(petsite.response_time.count(), TRACES as u64);
    assert_eq!(petsite.response_time_histogram.iter().map(|entry| entry.count).sum::<u64>(), TRACES as u64);
    assert_eq!(petsite.duration.count(), TRACES as u64, "one trace duration per trace through the node");
    let p50 = petsite.response_time.percentiles().unwrap().p50;
    assert!((p50 - 1.009).abs() < 0.002, "p50 {p50}");
}

#[test]
fn a_trace_set_restricts_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    // Traces 1 and 3: odd, so no payforadoption; one throttle and one error on petsearch.
    let traces = TraceIdSet::from_ids(&[parsed_trace_id(1), parsed_trace_id(3)]).unwrap();
    let graph = service_graph(&store, at_us(-1.0), at_us(1000.0), Some(&traces)).unwrap();
    assert!(graph.node("payforadoption", ECS).is_none());
    let call = graph.edge(("petsite", EC2), ("petsearch", ECS)).unwrap();
    assert_eq!(counts(&call.summary_statistics), (0, 1, 1, 0, 0.06));

    let trace_graph = trace_graph(&store, &[parsed_trace_id(1), parsed_trace_id(3)]).unwrap();
    let call = trace_graph.edge(("petsite", EC2), ("petsearch", ECS)).unwrap();
    assert_eq!(counts(&call.summary_statistics), (0, 1, 1, 0, 0.06));
    assert_eq!(trace_graph.services.len(), graph.services.len());
}

#[test]
fn a_time_range_keeps_the_spans_that_start_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    // Traces 0..5 start at 0, 10, …, 40 s.
    let graph = service_graph(&store, at_us(0.0), at_us(50.0), None).unwrap();
    let root = graph.edge(("petsite", "client"), ("petsite", EC2)).unwrap();
    assert_eq!(root.summary_statistics.total_count, 5);
    assert_eq!(root.start_time, petstore::BASE);
}

#[test]
fn the_graph_survives_a_flush_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    store.flush().unwrap();
    // The same traces again: duplicates in recent data over the block count once.
    let documents: Vec<_> = (0..4).flat_map(petstore::trace_documents).collect();
    petstore::put(&store, &documents);
    let graph = service_graph(&store, at_us(-1.0), at_us(1000.0), None).unwrap();
    let call = graph.edge(("petsite", EC2), ("petsearch", ECS)).unwrap();
    assert_eq!(counts(&call.summary_statistics), (12, 4, 2, 2, 2.1));
}

/// One trace of `calls` untraced remote calls from `api`, each answered by a `worker` segment,
/// and one unanswered call to `legacy`.
fn fan_out_graph(calls: u64) -> ServiceGraph {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::open(dir.path());
    let (trace, start) = (petstore::trace_id(0), petstore::BASE);
    let call = |role: u64, name: &str| {
        json!({"id": petstore::span_id(0, role), "name": name, "namespace": "remote",
               "start_time": start + 0.01 * role as f64, "end_time": start + 0.01 * role as f64 + 0.005})
    };
    let mut subsegments: Vec<Value> = (0..calls).map(|k| call(10 + k, "worker")).collect();
    subsegments.push(call(9, "legacy"));
    let mut documents = vec![json!({"name": "api", "id": petstore::span_id(0, 1), "trace_id": trace,
        "start_time": start, "end_time": start + 1.0, "subsegments": subsegments})];
    documents.extend((0..calls).map(|k| {
        json!({"name": "worker", "id": petstore::span_id(0, 100 + k), "trace_id": trace,
               "parent_id": petstore::span_id(0, 10 + k), "start_time": start + 0.01 * (10 + k) as f64 + 0.001,
               "end_time": start + 0.01 * (10 + k) as f64 + 0.004})
    }));
    petstore::put(&store, &documents);
    service_graph(&store, at_us(-1.0), at_us(10.0), None).unwrap()
}

/// A callee finds its caller among its trace's spans by a linear search in a small trace and a
/// binary search over the spans sorted by id in a large one: both find every caller, and a
/// call a segment answered makes no inferred node.
#[test]
fn callees_find_their_callers_in_small_and_large_traces() {
    for calls in [5, 60] {
        let graph = fan_out_graph(calls);
        let edge = graph.edge(("api", ""), ("worker", "")).unwrap_or_else(|| panic!("api → worker, {calls} calls"));
        // The caller's view: 5 ms each.
        let expected_seconds = (calls as f64 * 0.005 * 1e4).round() / 1e4;
        assert_eq!(counts(&edge.summary_statistics), (calls, 0, 0, 0, expected_seconds), "{calls} calls");
        assert!(graph.node("worker", "remote").is_none(), "answered calls infer no node ({calls} calls)");
        assert_eq!(graph.edge(("api", ""), ("legacy", "remote")).unwrap().summary_statistics.total_count, 1);
        assert_eq!(graph.node("worker", "").unwrap().summary_statistics.unwrap().total_count, calls);
    }
}
