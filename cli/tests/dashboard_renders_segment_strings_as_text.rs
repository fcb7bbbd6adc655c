//! A hostile string from a segment (`<img src=x onerror=alert(1)>` as origin, user, annotation,
//! URL and exception message; the same typed into a group filter and a sampling rule) shows as
//! text on every page: no alert, no injected element, no CSP violation. Names cannot carry it:
//! the segment-name rule refuses the document, which is checked first. An OpenTelemetry
//! resource can name its service with it: ingest keeps the span and drops the characters a
//! segment name cannot hold, as X-Ray's OTLP exporter does, so the map and the trace show the
//! node as `img src=x onerror=alert1`, as text.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dashboard::Dashboard;

/// The payload as a service name, without `<`, `>`, `(` and `)`.
const FIXED_SERVICE_NAME: &str = "img src=x onerror=alert1";

#[test]
fn dashboard_renders_segment_strings_as_text() {
    let mut dashboard = Dashboard::start();
    let payload = dashboard.facts["payload"].as_str().unwrap().to_owned();
    let named = json!({"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "70de5b6f19ff9a0a",
        "name": payload, "start_time": 1.7e9, "end_time": 1.7e9 + 1.0});
    let answer = dashboard.server.post("/TraceSegments", json!({"TraceSegmentDocuments": [named.to_string()]}));
    assert_eq!(
        answer["UnprocessedTraceSegments"].as_array().unwrap().len(),
        1,
        "a name with < > ( ) is refused: {answer}"
    );

    let trace = send_hostile_service(&dashboard);
    dashboard.facts["hostile_service"] = json!({"trace": trace, "name": FIXED_SERVICE_NAME});
    let seen = dashboard.browse("xss", "dashboard_renders_segment_strings_as_text");
    let pages = seen["checked"].as_array().unwrap();
    assert_eq!(
        pages.len(),
        10,
        "map, panel, OTLP service on the map, traces (twice), trace, OTLP service's trace, analytics, groups, \
         sampling: {pages:?}"
    );
}

/// Sends the OpenTelemetry span of a service named with the payload; waits until the map has
/// its node under the fixed name; returns its trace id.
fn send_hostile_service(dashboard: &Dashboard) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dashboard_topology.py");
    let port = dashboard.server.port("otlp-http").to_string();
    let run = Command::new("python3").arg(script).args(["hostile-service", &port]).output().unwrap();
    assert!(run.status.success(), "dashboard_topology.py hostile-service: {}", String::from_utf8_lossy(&run.stderr));
    let sent: Value = serde_json::from_slice(&run.stdout).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let graph = dashboard.server.post("/ServiceGraph", json!({"StartTime": now - 900.0, "EndTime": now + 60.0}));
        let names: Vec<&str> =
            graph["Services"].as_array().unwrap().iter().filter_map(|node| node["Name"].as_str()).collect();
        assert!(!names.iter().any(|name| name.contains('<')), "no node keeps the markup: {names:?}");
        if names.contains(&FIXED_SERVICE_NAME) {
            return sent["trace"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the OTLP service never reached the map: {names:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
