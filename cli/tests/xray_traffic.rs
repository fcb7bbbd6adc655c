//! X-Ray traces with chosen timestamps, sent to `fluoro serve` as the X-Ray daemon protocol
//! over UDP (what every X-Ray SDK does), for the group-metric and alarm tests.

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::server::FluoroServer;

pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The start of the minute `minutes_ago` minutes before the current one.
pub(crate) fn minute_start(minutes_ago: i64) -> i64 {
    let now = unix_now() as i64;
    now - now.rem_euclid(60) - 60 * minutes_ago
}

/// One trace: `api` (status `class`, `millis` long, from `start`) calls `backend`, which
/// answers with its own segment (always ok).
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

/// Sends the documents over UDP, one datagram each, and waits until `traces` traces starting
/// in `[from, to)` are searchable.
pub(crate) fn send_over_udp(server: &FluoroServer, documents: &[Value], from: f64, to: f64, traces: usize) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for document in documents {
        let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{document}");
        socket.send_to(datagram.as_bytes(), server.addresses["udp"]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = server.post("/TraceSummaries", json!({"StartTime": from, "EndTime": to}));
        if found["TraceSummaries"].as_array().unwrap().len() == traces {
            return;
        }
        assert!(Instant::now() < deadline, "the traces were not stored: {found}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The series' values, polled until `ready` accepts them (group metrics are computed in the
/// background).
pub(crate) fn series_until(
    server: &FluoroServer,
    request: Value,
    ready: impl Fn(&[Option<f64>]) -> bool,
) -> Vec<Option<f64>> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let series = server.post("/api/metrics/series", request.clone());
        let values: Vec<Option<f64>> =
            series["Values"].as_array().unwrap().iter().map(|value| value["Value"].as_f64()).collect();
        if ready(&values) || Instant::now() > deadline {
            return values;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
