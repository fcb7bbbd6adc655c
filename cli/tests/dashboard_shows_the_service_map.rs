//! The service map in Chromium: every node of the known topology, laid out left to right,
//! edges red where they carry faults and orange where they carry throttles; clicking a node
//! and an edge opens their statistics; the edge's button opens its throttled traces; the back
//! button returns to the selection.

use crate::dashboard::Dashboard;

#[test]
fn dashboard_shows_the_service_map() {
    let dashboard = Dashboard::start();
    let seen = dashboard.browse("map", "dashboard_shows_the_service_map");
    let nodes: Vec<&str> = seen["nodes"].as_array().unwrap().iter().map(|node| node.as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 11, "{nodes:?}");
    assert!(nodes.contains(&"payments@db.local|Database::SQL"), "the OTLP service's SQL call: {nodes:?}");
}
