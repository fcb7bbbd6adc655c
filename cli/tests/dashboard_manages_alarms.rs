//! The Alarms page in Chromium over a server whose `alarms.json` (the real persisted format)
//! holds alarms already in ALARM and OK: their badges, the history reason shown as text, a
//! sparkline of an OTLP gauge with its threshold, the alarmed service's node marked on the map
//! (and a node whose ServiceType does not match left alone); then an alarm created from a
//! group, a bad webhook refused beside its field, the threshold edited, another alarm deleted.

use serde_json::{json, Value};

use crate::dashboard::Dashboard;

/// 2026-12-04 10:02:00 UTC.
const CHANGED_AT: i64 = 1_796_378_520;
const PAYLOAD: &str = "<img src=x onerror=alert(1)>";

fn persisted_alarm(name: &str, namespace: &str, metric: &str, dimensions: Value, state: &str, reason: &str) -> Value {
    // Any datapoint keeps the state (ALARM: every value is >= 0; OK: none is < 0), and missing
    // ones are ignored: an evaluation loop leaves these states be.
    let operator = if state == "ALARM" { "GreaterThanOrEqualToThreshold" } else { "LessThanThreshold" };
    json!({
        "AlarmName": name, "AlarmDescription": format!("watches {PAYLOAD}"),
        "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
        "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        "ComparisonOperator": operator, "Threshold": 0.0, "TreatMissingData": "ignore",
        "AlarmActions": [],
        "StateValue": state, "StateReason": reason, "StateUpdatedTimestamp": CHANGED_AT,
        "History": [{"AlarmName": name, "Timestamp": CHANGED_AT, "OldState": "INSUFFICIENT_DATA", "NewState": state,
                     "HistorySummary": format!("Alarm updated from INSUFFICIENT_DATA to {state}"), "Reason": reason}],
    })
}

fn write_alarms(data_dir: &std::path::Path) {
    let reason = format!("Threshold Crossed: 1 out of the last 1 datapoints [3.0 (04/12/26 10:01:00)] were greater than or equal to the threshold (0.0) {PAYLOAD}");
    let alarms = json!({"version": 1, "alarms": [
        persisted_alarm("petsearch-faults", "AWS/X-Ray", "FaultCount", json!({"ServiceName": "petsearch"}), "ALARM", &reason),
        persisted_alarm("frontend-as-lambda", "AWS/X-Ray", "FaultCount",
            json!({"ServiceName": "frontend", "ServiceType": "AWS::Lambda::Function"}), "ALARM", "Threshold Crossed"),
        persisted_alarm("payments-memory", "payments", "process.memory.usage", json!({}), "OK", "Threshold Crossed"),
    ]});
    std::fs::write(data_dir.join("alarms.json"), serde_json::to_vec_pretty(&alarms).unwrap()).unwrap();
}

#[test]
fn dashboard_manages_alarms() {
    let dashboard = Dashboard::start_with(write_alarms);
    dashboard.server.post("/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime > 1"}));
    dashboard.browse("alarms", "dashboard_manages_alarms");
    let described = dashboard.server.post("/DescribeAlarms", json!({}));
    let alarms = described["MetricAlarms"].as_array().unwrap();
    let names: Vec<&str> = alarms.iter().map(|alarm| alarm["AlarmName"].as_str().unwrap()).collect();
    assert_eq!(names, ["frontend-as-lambda", "payments-memory", "petsearch-faults", "slow-traces"], "{described}");
    let created = &alarms[3];
    assert_eq!(created["Namespace"], "AWS/X-Ray");
    assert_eq!(created["MetricName"], "ApproximateTraceCount");
    assert_eq!(created["Dimensions"], json!({"GroupName": "slow"}));
    assert_eq!(created["Threshold"], 7.0, "the edited threshold");
    assert_eq!(created["AlarmActions"], json!(["http://127.0.0.1:9/hook"]));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let notifications: Value = runtime
        .block_on(async { reqwest::get(dashboard.server.url("/api/notifications")).await?.json().await })
        .unwrap();
    assert!(notifications["Counts"]["Queued"].is_u64() && notifications["Deliveries"].is_array(), "{notifications}");
}
