//! `fluoro serve` computes group metrics in the background: per group and closed minute
//! `ApproximateTraceCount`, per node and edge counts and response-time percentiles, stored as
//! `AWS/X-Ray` metric points (read back with `POST /api/metrics/series`), on `/metrics`, kept
//! across a restart and never computed twice.

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::xray_traffic::{minute_start, send_over_udp, series_until, trace, unix_now};

const API: [(&str, &str); 2] = [("ServiceName", "api"), ("ServiceType", "AWS::EC2::Instance")];

fn grace(seconds: &str) -> [&std::ffi::OsStr; 2] {
    ["--group-metrics-grace-seconds".as_ref(), seconds.as_ref()]
}

/// A per-minute series of `AWS/X-Ray` `name` over the two minutes from `minute`.
fn per_minute(name: &str, minute: i64, dimensions: Value, statistic: &str) -> Value {
    json!({"StartTime": minute, "EndTime": minute + 120, "Service": "AWS/X-Ray", "Name": name,
           "Period": 60, "Statistic": statistic, "Attributes": dimensions})
}

fn dimensions(group: &str, extra: &[(&str, &str)]) -> Value {
    let mut dimensions = json!({"GroupName": group});
    for (key, value) in extra {
        dimensions[*key] = json!(value);
    }
    dimensions
}

fn both_present(values: &[Option<f64>]) -> bool {
    values.len() == 2 && values.iter().all(Option::is_some)
}

#[test]
fn group_metrics_are_computed_per_closed_minute_kept_and_exported() {
    let data = tempfile::tempdir().unwrap();
    // An hour's grace: nothing is due while the traces arrive.
    let server = FluoroServer::start_with(data.path(), &grace("3600"));
    server.post("/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime > 1"}));
    let minute = minute_start(4);
    let next = minute + 60;
    let mut documents = trace(1, minute as f64 + 5.0, 100.0, "ok");
    documents.extend(trace(2, minute as f64 + 20.0, 200.0, "throttle"));
    documents.extend(trace(3, minute as f64 + 40.0, 2000.0, "fault"));
    documents.extend(trace(4, next as f64 + 10.0, 100.0, "ok"));
    send_over_udp(&server, &documents, minute as f64, next as f64 + 60.0, 4);
    let names = server.post("/api/metrics/names", json!({"StartTime": minute - 600, "EndTime": unix_now() + 60.0}));
    assert_eq!(names["Metrics"], json!([]), "no minute is due within the grace delay");
    assert!(server.stop().success());

    // No grace: the restarted server catches up from the oldest span's minute.
    let server = FluoroServer::start_with(data.path(), &grace("0"));
    let count = |group: &str| {
        let request = per_minute("ApproximateTraceCount", minute, dimensions(group, &[]), "sum");
        series_until(&server, request, both_present)
    };
    assert_eq!(count("Default"), [Some(3.0), Some(1.0)]);
    assert_eq!(count("slow"), [Some(1.0), Some(0.0)]);
    let node =
        |name: &str| series_until(&server, per_minute(name, minute, dimensions("Default", &API), "sum"), both_present);
    assert_eq!(node("TotalCount"), [Some(3.0), Some(1.0)]);
    assert_eq!(node("OkCount"), [Some(1.0), Some(1.0)]);
    assert_eq!(node("ThrottleCount"), [Some(1.0), Some(0.0)]);
    assert_eq!(node("FaultCount"), [Some(1.0), Some(0.0)]);
    assert_eq!(node("ErrorCount"), [Some(0.0), Some(0.0)]);
    let p99 = node("ResponseTimeP99")[0].unwrap();
    assert!((p99 - 2.0).abs() < 0.01, "p99 {p99}");
    let edge = [API[0], API[1], ("DestinationName", "backend"), ("DestinationType", "AWS::ECS::Container")];
    let edge_total = per_minute("TotalCount", minute, dimensions("Default", &edge), "sum");
    assert_eq!(series_until(&server, edge_total, both_present), [Some(3.0), Some(1.0)]);
    let slow_api = per_minute("TotalCount", minute, dimensions("slow", &API), "sum");
    assert_eq!(series_until(&server, slow_api, |_| true), [Some(1.0), None], "only the slow trace's requests");
    let names =
        server.post("/api/metrics/names", json!({"StartTime": minute, "EndTime": next + 60, "Service": "AWS/X-Ray"}));
    let listed: Vec<&str> = names["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
    assert!(listed.contains(&"ApproximateTraceCount") && listed.contains(&"ResponseTimeP50"), "{listed:?}");

    live_minute_reaches_metrics(&server);
    assert!(server.stop().success());

    // Kept, and not computed again: one raw point per minute.
    let server = FluoroServer::start_with(data.path(), &grace("0"));
    let raw = json!({"StartTime": minute, "EndTime": next + 60, "Service": "AWS/X-Ray", "Name": "ApproximateTraceCount",
                     "Attributes": {"GroupName": "Default"}});
    let points = server.post("/api/metrics/series", raw);
    let values: Vec<f64> = points["Values"].as_array().unwrap().iter().map(|v| v["Value"].as_f64().unwrap()).collect();
    assert_eq!(values, [3.0, 1.0]);
    assert!(server.stop().success());
}

/// Traces of the current minute reach `/metrics` once the minute has closed.
fn live_minute_reaches_metrics(server: &FluoroServer) {
    let start = unix_now();
    let current = start as i64 - (start as i64).rem_euclid(60);
    let mut documents = trace(10, start, 300.0, "fault");
    documents.extend(trace(11, start, 100.0, "ok"));
    send_over_udp(server, &documents, current as f64, current as f64 + 60.0, 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let text = loop {
        let text = metrics_text(server);
        if text.contains(&format!("fluoro_group_metrics_minute_timestamp_seconds {current}\n")) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "minute {current} not exported: {text}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let labels = "group=\"Default\",service=\"api\",type=\"AWS::EC2::Instance\"";
    for line in [
        "fluoro_group_approximate_trace_count{group=\"Default\"} 2\n".to_owned(),
        "fluoro_group_approximate_trace_count{group=\"slow\"} 0\n".to_owned(),
        format!("fluoro_group_service_requests{{{labels},status=\"fault\"}} 1\n"),
        format!("fluoro_group_service_requests{{{labels},status=\"ok\"}} 1\n"),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
    // 0.3 s, read back from float seconds as sent (0.299999 or 0.3).
    let p99 = format!("fluoro_group_service_response_time_seconds{{{labels},quantile=\"0.99\"}} ");
    let value: f64 = text.lines().find_map(|line| line.strip_prefix(&p99)).expect(&p99).parse().unwrap();
    assert!((value - 0.3).abs() < 1e-5, "{p99}{value}");
}

fn metrics_text(server: &FluoroServer) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap() })
}
