//! `fluoro serve` as a user runs it, fed by the real X-Ray and OpenTelemetry Python SDKs:
//! sampling rules created through the API steer the SDK, streamed subsegments come back as one
//! complete trace, an X-Ray caller and an OTLP callee form one trace, the counters add up, and
//! the rules survive a restart.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::FluoroServer;

fn get_text(server: &FluoroServer, path: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(server.url(path)).await.unwrap().text().await.unwrap() })
}

fn sampling_rule(name: &str, priority: u32, url_path: &str, fixed_rate: f64) -> Value {
    json!({"SamplingRule": {
        "RuleName": name, "Priority": priority, "FixedRate": fixed_rate, "ReservoirSize": 0,
        "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": url_path,
        "ResourceARN": "*", "Version": 1
    }})
}

/// Every entity of a BatchGetTraces trace, segments and nested subsegments, as JSON.
fn entities_of(trace: &Value) -> Vec<Value> {
    fn walk(entity: &Value, out: &mut Vec<Value>) {
        out.push(entity.clone());
        for sub in entity["subsegments"].as_array().into_iter().flatten() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    for segment in trace["Segments"].as_array().into_iter().flatten() {
        let document: Value = serde_json::from_str(segment["Document"].as_str().unwrap()).unwrap();
        walk(&document, &mut out);
    }
    out
}

/// Polls BatchGetTraces until `done` holds for the trace (UDP delivery is asynchronous).
fn wait_for_trace(server: &FluoroServer, trace_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = server.post("/Traces", json!({"TraceIds": [trace_id]}));
        let entities = answer["Traces"].get(0).map(entities_of).unwrap_or_default();
        if done(&entities) {
            return entities;
        }
        assert!(Instant::now() < deadline, "trace {trace_id} incomplete: {} entities", entities.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn real_sdks_feed_one_server_and_rules_persist() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(data_dir.path());
    server.post("/CreateSamplingRule", sampling_rule("health-off", 10, "/health*", 0.0));
    server.post("/CreateSamplingRule", sampling_rule("pets-all", 20, "/api/*", 1.0));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/xray_app.py");
    let ports = [server.port("udp"), server.port("sampling"), server.port("otlp-http")].map(|p| p.to_string());
    let run = Command::new("python3").arg(script).args(&ports).args(["20", "health-off"]).output().unwrap();
    assert!(run.status.success(), "xray_app.py failed: {}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();

    // The rules created through the API reached the SDK and decided.
    assert_eq!(report["decisions"]["/health"], 0, "rate 0 for /health stops its traces: {report}");
    assert_eq!(report["decisions"]["/api/pets"], 20, "rate 1 for /api/* traces every request: {report}");

    // The first /api/pets request had 40 subsegments, most streamed separately: one trace.
    let first = report["traces"]["/api/pets"][0].as_str().unwrap();
    let entities = wait_for_trace(&server, first, |e| e.len() == 41);
    assert_eq!(entities.iter().filter(|e| e["name"] == "load_pet").count(), 40);
    assert_eq!(entities[0]["name"], "petsite");

    // The X-Ray caller and the OpenTelemetry callee are one trace.
    let mixed = &report["mixed"];
    let entities = wait_for_trace(&server, mixed["trace_id"].as_str().unwrap(), |e| {
        e.iter().any(|x| x["name"] == "inventory" && x.get("parent_id").is_some())
    });
    let callee = entities
        .iter()
        .find(|e| e["name"] == "inventory" && e["id"] == mixed["inventory_span_id"])
        .expect("the OTLP span");
    assert_eq!(callee["parent_id"], mixed["call_id"], "the callee's parent is the caller's subsegment");

    // Everything sent was accepted; nothing rejected or dropped.
    let metrics = get_text(&server, "/metrics");
    assert!(metrics.contains("fluoro_rejected_total{source=\"udp\",reason=\"invalid\"} 0"), "{metrics}");
    assert!(metrics.contains("fluoro_dropped_total{source=\"udp\",reason=\"overload\"} 0"), "{metrics}");
    assert!(metrics.contains("fluoro_accepted_total{source=\"otlp_http\"} 1\n"), "{metrics}");

    assert!(server.stop().success(), "a SIGTERM stop exits cleanly");

    let restarted = FluoroServer::start(data_dir.path());
    let rules = restarted.post("/GetSamplingRules", json!({}));
    let names: Vec<&str> = rules["SamplingRuleRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["SamplingRule"]["RuleName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"health-off") && names.contains(&"pets-all") && names.contains(&"Default"), "{names:?}");
}
