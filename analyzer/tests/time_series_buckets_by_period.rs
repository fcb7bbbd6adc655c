//! Time-series statistics of a node or an edge, bucketed by 1 or 5 minutes.

use fluoro_analyzer::{parse_entity_selector, time_series_statistics, EntitySelector};

use crate::petstore::{self, at_us, BASE};

#[test]
fn edge_calls_fall_into_their_minute() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    let selector = parse_entity_selector(Some(r#"edge("petsite", "petsearch")"#)).unwrap();
    // Traces start every 10 s from BASE: six per minute for the first three minutes, two in the fourth.
    let points = time_series_statistics(&store, at_us(0.0), at_us(300.0), &selector, 60, None).unwrap();
    let timestamps: Vec<f64> = points.iter().map(|point| point.timestamp).collect();
    assert_eq!(timestamps, vec![BASE, BASE + 60.0, BASE + 120.0, BASE + 180.0, BASE + 240.0]);
    let totals: Vec<u64> = points.iter().map(|point| point.edge_summary_statistics.unwrap().total_count).collect();
    assert_eq!(totals, vec![6, 6, 6, 2, 0]);
    // Minute 0 holds traces 0..6: fault (0), throttle (1), errors (2, 3), ok (4, 5).
    let first = points[0].edge_summary_statistics.unwrap();
    assert_eq!(
        (
            first.ok_count,
            first.error_statistics.other_count,
            first.error_statistics.throttle_count,
            first.fault_statistics.total_count
        ),
        (2, 2, 1, 1)
    );
    assert!(points[0].service_summary_statistics.is_none());
    assert_eq!(points[0].response_time_histogram.iter().map(|entry| entry.count).sum::<u64>(), 6);
}

#[test]
fn five_minute_buckets_hold_the_whole_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    let selector = parse_entity_selector(Some(r#"service("petsite")"#)).unwrap();
    let points = time_series_statistics(&store, at_us(0.0), at_us(300.0), &selector, 300, None).unwrap();
    assert_eq!(points.len(), 1);
    let statistics = points[0].service_summary_statistics.unwrap();
    assert_eq!((statistics.total_count, statistics.fault_statistics.total_count), (20, 1));

    let by_id = parse_entity_selector(Some(r#"id(name: "DynamoDB", type: "AWS::DynamoDB::Table")"#)).unwrap();
    let points = time_series_statistics(&store, at_us(0.0), at_us(300.0), &by_id, 300, None).unwrap();
    assert_eq!(points[0].service_summary_statistics.unwrap().total_count, 20);
}

#[test]
fn only_one_and_five_minute_periods_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    let error = time_series_statistics(&store, 0, 1, &EntitySelector::AllEdges, 120, None).unwrap_err();
    assert_eq!(error.to_string(), "Period 120 is not supported; expected 60 (1 minute) or 300 (5 minutes)");
}

#[test]
fn selectors_are_only_services_edges_and_ids() {
    assert_eq!(parse_entity_selector(None).unwrap(), EntitySelector::AllEdges);
    assert_eq!(
        parse_entity_selector(Some(r#"service("a")"#)).unwrap(),
        EntitySelector::Node { name: Some("a".into()), node_type: None }
    );
    let error = parse_entity_selector(Some("responsetime > 5")).unwrap_err().to_string();
    assert!(error.contains("is not an entity selector"), "{error}");
    let error = parse_entity_selector(Some("service(")).unwrap_err().to_string();
    assert!(error.contains("column"), "{error}");
}
