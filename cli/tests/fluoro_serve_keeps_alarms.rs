//! `fluoro serve` manages metric alarms through PutMetricAlarm / DescribeAlarms /
//! DescribeAlarmHistory / DeleteAlarms and keeps them in `alarms.json` across a restart.

use serde_json::json;

use crate::server::FluoroServer;

#[test]
fn alarms_survive_a_restart_and_deletion_is_durable() {
    let data_dir = tempfile::tempdir().unwrap();
    let alarm = json!({
        "AlarmName": "slow-searches", "AlarmDescription": "responsetime > 3 in PetSearch",
        "Namespace": "AWS/X-Ray", "MetricName": "ApproximateTraceCount", "Dimensions": {"GroupName": "slow"},
        "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 2,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 5.0, "TreatMissingData": "breaching",
        "AlarmActions": ["http://127.0.0.1:9/hook"]
    });
    let server = FluoroServer::start(data_dir.path());
    server.post("/PutMetricAlarm", alarm);
    assert!(server.stop().success());

    let server = FluoroServer::start(data_dir.path());
    let described = server.post("/DescribeAlarms", json!({"AlarmNames": ["slow-searches"]}));
    let kept = &described["MetricAlarms"][0];
    assert_eq!(kept["AlarmName"], "slow-searches");
    assert_eq!(kept["Dimensions"], json!({"GroupName": "slow"}));
    assert_eq!(kept["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(kept["TreatMissingData"], "breaching");
    assert_eq!(kept["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(kept["StateReason"], "Unchecked: Initial alarm creation");
    server.post("/DeleteAlarms", json!({"AlarmNames": ["slow-searches"]}));
    assert!(server.stop().success());

    let server = FluoroServer::start(data_dir.path());
    assert_eq!(server.post("/DescribeAlarms", json!({}))["MetricAlarms"], json!([]));
    assert!(server.stop().success());
}
