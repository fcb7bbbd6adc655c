//! The trace page in Chromium: the waterfall of a trace mixing X-Ray and OTLP spans as one
//! tree, faults marked, a row's details with the exception's stack, the trace's own map, and
//! its log lines (OpenTelemetry SDK) in time order, filtered to a segment by a click, escaped;
//! each line also a mark on its segment's bar at its time (a line whose span the trace does not
//! hold, on the deepest row running at its time), showing the line, and a click on a line in the
//! panel selects its row.

use crate::dashboard::Dashboard;

#[test]
fn dashboard_shows_a_trace_timeline() {
    let dashboard = Dashboard::start();
    let seen = dashboard.browse("trace", "dashboard_shows_a_trace_timeline");
    let rows = seen["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "frontend, its two calls, petsearch, DynamoDB, payments, its SQL call: {rows:?}");
    let logs = seen["logs"].as_array().unwrap();
    let messages: Vec<&str> = logs.iter().map(|row| row[3].as_str().unwrap()).collect();
    let payload = dashboard.facts["payload"].as_str().unwrap();
    assert_eq!(
        messages,
        [
            "loading pets page 2",
            "DynamoDB throttled the query, retrying",
            "cache warmed in the background",
            &format!("payment failed: {payload}")
        ]
    );
    // The marks, in time order, sit on the rows of the segments the lines were written in; the
    // line of a span the trace does not hold, on the DynamoDB call running at its time.
    let marked: Vec<&str> =
        seen["marks"].as_array().unwrap().iter().map(|mark| mark["segment"].as_str().unwrap()).collect();
    let fault = dashboard.facts["traces"].as_array().unwrap().iter().find(|t| t["fault"] == true).unwrap();
    let segment = |service: &str| fault["segments"][service].as_str().unwrap();
    assert_eq!(marked, [segment("frontend"), segment("petsearch"), segment("dynamodb"), segment("frontend")]);
}
