//! The trace page in Chromium: the waterfall of a trace mixing X-Ray and OTLP spans as one
//! tree, faults marked, a row's details with the exception's stack, and the trace's own map.

use crate::dashboard::Dashboard;

#[test]
fn dashboard_shows_a_trace_timeline() {
    let dashboard = Dashboard::start();
    let seen = dashboard.browse("trace", "dashboard_shows_a_trace_timeline");
    let rows = seen["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "frontend, its two calls, petsearch, DynamoDB, payments, its SQL call: {rows:?}");
}
