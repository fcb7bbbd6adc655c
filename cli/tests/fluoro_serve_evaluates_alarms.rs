//! `fluoro serve` evaluates alarms on a clock: an alarm on a group metric
//! (`AWS/X-Ray` `ApproximateTraceCount`) and one on an OTLP metric go to ALARM, one whose
//! threshold is not crossed goes to OK, each with a history entry whose reason names the
//! datapoints.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::xray_traffic::{minute_start, send_over_udp, trace};

fn alarm(name: &str, namespace: &str, metric: &str, dimensions: Value, statistic: &str, threshold: f64) -> Value {
    json!({"AlarmName": name, "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
           "Statistic": statistic, "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 1,
           "ComparisonOperator": "GreaterThanThreshold", "Threshold": threshold})
}

/// A gauge `queue.depth` of 12 for the queue `orders` of service `checkout`, over OTLP/HTTP JSON.
fn send_queue_depth(server: &FluoroServer, at: i64) {
    let nanos = format!("{}", at as u64 * 1_000_000_000);
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeMetrics": [{"metrics": [{"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": nanos,
            "asInt": "12", "attributes": [{"key": "queue", "value": {"stringValue": "orders"}}]}]}}]}]
    }]});
    let url = format!("http://{}/v1/metrics", server.addresses["otlp-http"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status =
        runtime.block_on(async { reqwest::Client::new().post(&url).json(&body).send().await.unwrap().status() });
    assert_eq!(status, 200);
}

fn states_until_settled(server: &FluoroServer, names: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = server.post("/DescribeAlarms", json!({"AlarmNames": names}));
        let states: Vec<String> = described["MetricAlarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alarm| alarm["StateValue"].as_str().unwrap().to_owned())
            .collect();
        if states.iter().all(|state| state != "INSUFFICIENT_DATA") || Instant::now() > deadline {
            return states;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alarms_on_group_and_otlp_metrics_change_state_with_reasons() {
    let data = tempfile::tempdir().unwrap();
    let hour = ["--group-metrics-grace-seconds".as_ref(), "3600".as_ref()];
    let server = FluoroServer::start_with(data.path(), &hour);
    let minute = minute_start(3);
    let mut documents = Vec::new();
    for n in 0..4 {
        documents.extend(trace(n + 1, minute as f64 + 5.0 + n as f64, 100.0, "ok"));
    }
    send_over_udp(&server, &documents, minute as f64, minute as f64 + 60.0, 4);
    assert!(server.stop().success());

    let fast = ["--group-metrics-grace-seconds", "0", "--alarm-interval-seconds", "1"].map(std::ffi::OsStr::new);
    let log_path = data.path().join("server.log");
    let log = std::process::Stdio::from(std::fs::File::create(&log_path).unwrap());
    let server = FluoroServer::start_logging(data.path(), &fast, "info", log);
    let depth_at = minute_start(2) + 10;
    send_queue_depth(&server, depth_at);
    let default = json!({"GroupName": "Default"});
    server.post("/PutMetricAlarm", alarm("busy", "AWS/X-Ray", "ApproximateTraceCount", default, "Sum", 2.0));
    let backend = json!({"GroupName": "Default", "ServiceName": "backend", "ServiceType": "AWS::ECS::Container"});
    server.post("/PutMetricAlarm", alarm("backend-storm", "AWS/X-Ray", "TotalCount", backend, "Sum", 100.0));
    let orders = json!({"queue": "orders"});
    server.post("/PutMetricAlarm", alarm("orders-backlog", "checkout", "queue.depth", orders, "Maximum", 10.0));
    let names = ["backend-storm", "busy", "orders-backlog"];
    assert_eq!(states_until_settled(&server, &names), ["OK", "ALARM", "ALARM"]);

    let history = server.post("/DescribeAlarmHistory", json!({"AlarmName": "busy"}));
    let item = &history["AlarmHistoryItems"][0];
    assert_eq!((item["OldState"].as_str(), item["NewState"].as_str()), (Some("INSUFFICIENT_DATA"), Some("ALARM")));
    let reason = item["Reason"].as_str().unwrap();
    let datapoint = format!("[4.0 ({})]", fluoro_analyzer::cloudwatch_time(minute));
    // The minutes before the first computed one are missing: "1 out of the last 3 datapoints".
    assert!(reason.starts_with("Threshold Crossed: 1 out of the last "), "{reason}");
    assert!(reason.contains(&datapoint) && reason.contains("greater than the threshold (2.0)"), "{reason}");
    let history = server.post("/DescribeAlarmHistory", json!({"AlarmName": "orders-backlog"}));
    let reason = history["AlarmHistoryItems"][0]["Reason"].as_str().unwrap();
    let depth_minute = depth_at - depth_at.rem_euclid(60);
    assert!(reason.contains(&format!("[12.0 ({})]", fluoro_analyzer::cloudwatch_time(depth_minute))), "{reason}");
    let history = server.post("/DescribeAlarmHistory", json!({"AlarmName": "backend-storm"}));
    assert_eq!(history["AlarmHistoryItems"][0]["NewState"], "OK");
    assert!(server.stop().success());

    // One log line per transition, naming the alarm, the change and the reason.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let changes: Vec<&str> = log.lines().filter(|line| line.contains("alarm state changed")).collect();
    assert_eq!(changes.len(), 3, "{log}");
    let busy = changes.iter().find(|line| line.contains("alarm=busy")).expect("busy's transition is logged");
    assert!(busy.contains("INSUFFICIENT_DATA -> ALARM") && busy.contains(&datapoint), "{busy}");
}
