//! A hostile string from a segment (`<img src=x onerror=alert(1)>` as origin, user, annotation,
//! URL and exception message; the same typed into a group filter and a sampling rule) shows as
//! text on every page: no alert, no injected element, no CSP violation. Names cannot carry it:
//! the segment-name rule refuses the document, which is checked first.

use serde_json::json;

use crate::dashboard::Dashboard;

#[test]
fn dashboard_renders_segment_strings_as_text() {
    let dashboard = Dashboard::start();
    let payload = dashboard.facts["payload"].as_str().unwrap();
    let named = json!({"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "70de5b6f19ff9a0a",
        "name": payload, "start_time": 1.7e9, "end_time": 1.7e9 + 1.0});
    let answer = dashboard.server.post("/TraceSegments", json!({"TraceSegmentDocuments": [named.to_string()]}));
    assert_eq!(
        answer["UnprocessedTraceSegments"].as_array().unwrap().len(),
        1,
        "a name with < > ( ) is refused: {answer}"
    );

    let seen = dashboard.browse("xss", "dashboard_renders_segment_strings_as_text");
    let pages = seen["checked"].as_array().unwrap();
    assert_eq!(pages.len(), 8, "map, panel, traces (twice), trace, analytics, groups, sampling: {pages:?}");
}
