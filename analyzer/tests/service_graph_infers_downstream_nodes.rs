//! Which subsegments become inferred downstream nodes, and what they are called.

use fluoro_analyzer::{service_graph, ServiceGraph};
use serde_json::{json, Value};

use crate::petstore::{at_us, open, put, span_id, trace_id, BASE};

fn graph_of(subsegments: Value) -> ServiceGraph {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(
        &store,
        &[json!({"name": "api", "id": span_id(0, 1), "trace_id": trace_id(0), "start_time": BASE,
                         "end_time": BASE + 1.0, "subsegments": subsegments})],
    );
    service_graph(&store, at_us(-1.0), at_us(10.0), None).unwrap()
}

fn call(role: u64, name: &str, fields: Value) -> Value {
    let mut call = json!({"id": span_id(0, role), "name": name, "start_time": BASE + 0.1, "end_time": BASE + 0.2});
    if let (Some(call), Value::Object(fields)) = (call.as_object_mut(), fields) {
        call.extend(fields);
    }
    call
}

fn node_types(graph: &ServiceGraph) -> Vec<(String, String)> {
    let mut nodes: Vec<_> = graph.services.iter().map(|node| (node.name.clone(), node.node_type.clone())).collect();
    nodes.sort();
    nodes
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, node_type)| ((*name).to_owned(), (*node_type).to_owned())).collect()
}

#[test]
fn local_and_traced_subsegments_make_no_node() {
    let graph = graph_of(json!([
        call(2, "compute", json!({})),
        call(3, "local-ns", json!({"namespace": "local"})),
        call(4, "downstream", json!({"namespace": "remote", "http": {"request": {"traced": true}}})),
    ]));
    assert_eq!(node_types(&graph), pairs(&[("api", ""), ("api", "client")]));
}

#[test]
fn aws_calls_are_named_like_the_console_shows_them() {
    let graph = graph_of(json!([
        call(2, "dynamodb", json!({"namespace": "aws", "aws": {"table_name": "pets"}})),
        call(3, "sqs", json!({"namespace": "aws", "aws": {"queue_url": "https://sqs/q"}})),
        call(4, "S3", json!({"namespace": "aws", "aws": {"bucket_name": "photos"}})),
        call(5, "SNS", json!({"namespace": "aws", "aws": {"topic_arn": "arn:aws:sns:us-east-1:1:t"}})),
        call(6, "STS", json!({"namespace": "aws", "aws": {"operation": "AssumeRole"}})),
        call(7, "DynamoDB", json!({"namespace": "aws", "aws": {"operation": "ListTables"}})),
    ]));
    assert_eq!(
        node_types(&graph),
        pairs(&[
            ("DynamoDB", "AWS::DynamoDB"),
            ("DynamoDB", "AWS::DynamoDB::Table"),
            ("S3", "AWS::S3::Bucket"),
            ("SNS", "AWS::SNS::Topic"),
            ("SQS", "AWS::SQS::Queue"),
            ("STS", "AWS::STS"),
            ("api", ""),
            ("api", "client"),
        ])
    );
}

#[test]
fn remote_calls_are_remote_or_sql_nodes() {
    let graph = graph_of(json!([
        call(
            2,
            "inventory.example.com",
            json!({"namespace": "remote", "http": {"request": {"url": "http://inventory.example.com/"}}})
        ),
        call(3, "orders@db", json!({"namespace": "remote", "sql": {"url": "postgresql://db:5432/orders"}})),
    ]));
    assert_eq!(
        node_types(&graph),
        pairs(&[("api", ""), ("api", "client"), ("inventory.example.com", "remote"), ("orders@db", "Database::SQL")])
    );
}

#[test]
fn nested_calls_are_found_at_any_depth() {
    let nested = json!([{"id": span_id(0, 2), "name": "handler", "start_time": BASE + 0.1, "end_time": BASE + 0.5,
        "subsegments": [{"id": span_id(0, 3), "name": "work", "start_time": BASE + 0.1, "end_time": BASE + 0.4,
            "subsegments": [call(4, "DynamoDB", json!({"namespace": "aws", "aws": {"table_name": "t"}}))]}]}]);
    let graph = graph_of(nested);
    let edge = graph.edge(("api", ""), ("DynamoDB", "AWS::DynamoDB::Table")).expect("edge from the segment's node");
    assert_eq!(edge.summary_statistics.total_count, 1);
    assert!((edge.summary_statistics.total_response_time - 0.1).abs() < 1e-6);
}

#[test]
fn in_progress_calls_count_but_add_no_response_time() {
    let graph = graph_of(json!([
        {"id": span_id(0, 2), "name": "S3", "namespace": "aws", "start_time": BASE + 0.1, "in_progress": true},
        call(3, "S3", json!({"namespace": "aws"})),
    ]));
    let edge = graph.edge(("api", ""), ("S3", "AWS::S3")).unwrap();
    assert_eq!(edge.summary_statistics.total_count, 2);
    assert!((edge.summary_statistics.total_response_time - 0.1).abs() < 1e-6);
    assert_eq!(edge.response_time.count(), 1);
}
