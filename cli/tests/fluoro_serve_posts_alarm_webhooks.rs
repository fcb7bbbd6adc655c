//! `fluoro serve` end to end: an OTLP gauge crosses an alarm's threshold, the evaluation loop
//! moves the alarm to ALARM, and the notifier POSTs the SNS-shaped notification to the alarm's
//! webhook — a real receiver that answers 500 once — which gets it exactly once, after a retry
//! with the same MessageId. `/metrics`, `GET /api/notifications` and the log count it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::webhook_receiver::webhook_receiver;
use crate::xray_traffic::minute_start;

fn send_gauge(server: &FluoroServer, at: i64, value: i64) {
    let nanos = format!("{}", at as u64 * 1_000_000_000);
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeMetrics": [{"metrics": [{"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": nanos,
            "asInt": value.to_string(), "attributes": [{"key": "queue", "value": {"stringValue": "orders"}}]}]}}]}]
    }]});
    let url = format!("http://{}/v1/metrics", server.addresses["otlp-http"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status =
        runtime.block_on(async { reqwest::Client::new().post(&url).json(&body).send().await.unwrap().status() });
    assert_eq!(status, 200);
}

fn get_text(server: &FluoroServer, path: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { reqwest::get(server.url(path)).await.unwrap().text().await.unwrap() })
}

#[test]
fn an_alarm_transition_reaches_its_webhook_once_after_a_retry() {
    let (hook, received) = webhook_receiver(1);
    let data = tempfile::tempdir().unwrap();
    let fast = ["--group-metrics-grace-seconds", "0", "--alarm-interval-seconds", "1"].map(std::ffi::OsStr::new);
    let log_path = data.path().join("server.log");
    let log = std::process::Stdio::from(std::fs::File::create(&log_path).unwrap());
    let server = FluoroServer::start_logging(data.path(), &fast, "info", log);
    send_gauge(&server, minute_start(2) + 10, 12);
    server.post(
        "/PutMetricAlarm",
        json!({"AlarmName": "orders-backlog", "Namespace": "checkout",
        "MetricName": "queue.depth", "Dimensions": {"queue": "orders"}, "Statistic": "Maximum", "Period": 60,
        "EvaluationPeriods": 5, "DatapointsToAlarm": 1, "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 10.0, "AlarmActions": [hook]}),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while !received.lock().unwrap().iter().any(|(_, _, status)| *status == 200) {
        assert!(Instant::now() < deadline, "no notification delivered: {:?}", received.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Another evaluation or two pass: no transition, no second notification.
    std::thread::sleep(Duration::from_secs(3));
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one 500, one retry: {got:#?}");
    assert_eq!((got[0].2, got[1].2), (500, 200));
    assert_eq!(got[0].0, got[1].0, "the retry keeps its MessageId");
    let envelope = &got[1].1;
    assert_eq!(envelope["Subject"], "ALARM: \"orders-backlog\" in local");
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        (message["OldStateValue"].as_str(), message["NewStateValue"].as_str()),
        (Some("INSUFFICIENT_DATA"), Some("ALARM"))
    );
    assert!(message["NewStateReason"].as_str().unwrap().contains("[12.0 ("), "{message}");
    assert_eq!(message["Trigger"]["Namespace"], "checkout");
    assert_eq!(message["Trigger"]["Dimensions"], json!([{"name": "queue", "value": "orders"}]));

    let metrics = get_text(&server, "/metrics");
    assert!(metrics.contains("fluoro_notification_deliveries_total{outcome=\"delivered\"} 1\n"), "{metrics}");
    assert!(metrics.contains("fluoro_notification_retries_total 1\n"), "{metrics}");
    let status: Value = serde_json::from_str(&get_text(&server, "/api/notifications")).unwrap();
    let delivery = &status["Deliveries"][0];
    assert_eq!(
        (delivery["Source"].as_str(), delivery["Outcome"].as_str()),
        (Some("alarm/orders-backlog"), Some("delivered"))
    );
    assert_eq!(delivery["Attempts"], 2);
    assert!(server.stop().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.lines().any(|line| line.contains("notification attempt failed; retrying") && line.contains("HTTP 500")),
        "{log}"
    );
    assert!(
        log.lines().any(|line| line.contains("notification delivered") && line.contains("alarm/orders-backlog")),
        "{log}"
    );
}
