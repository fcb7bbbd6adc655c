//! `trace alarms` against a running `fluoro serve`: create an alarm with every option, list it
//! as a table and as CloudWatch's JSON, read its (empty) history and delete it; a refused
//! period exits 2 with the server's message, an empty list exits 1.

use serde_json::json;

use crate::server::FluoroServer;
use crate::trace_histogram_queries_a_running_server::stdout;
use crate::trace_manages_groups::{json_of, trace_at};

#[test]
fn trace_alarms_create_list_history_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let empty = trace_at(&server, &["alarms", "list"]);
    assert_eq!(empty.status.code(), Some(1));

    let created = stdout(&trace_at(
        &server,
        &[
            "alarms",
            "create",
            "busy",
            "--metric",
            "ApproximateTraceCount",
            "--dimension",
            "GroupName=slow",
            "--statistic",
            "Sum",
            "--period",
            "120",
            "--evaluation-periods",
            "3",
            "--datapoints-to-alarm",
            "2",
            "--comparison",
            ">=",
            "--threshold",
            "2.5",
            "--treat-missing-data",
            "notBreaching",
            "--webhook",
            "http://127.0.0.1:9/hook",
            "--description",
            "too many slow traces",
        ],
    ));
    let lines: Vec<&str> = created.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATE", "METRIC", "CONDITION", "SINCE", "(UTC)"]
    );
    let cells: Vec<&str> = lines[1].split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect();
    assert_eq!(
        cells[..4],
        [
            "busy",
            "INSUFFICIENT_DATA",
            "AWS/X-Ray/ApproximateTraceCount{GroupName=slow}",
            "Sum >= 2.5 for 2 of 3 × 120s"
        ]
    );

    let listed = json_of(&trace_at(&server, &["alarms", "list", "busy", "--json"]));
    assert_eq!(listed, server.post("/DescribeAlarms", json!({"AlarmNames": ["busy"]})), "the server's answer as it is");
    let alarm = &listed["MetricAlarms"][0];
    assert_eq!(
        [
            &alarm["Namespace"],
            &alarm["Dimensions"],
            &alarm["ComparisonOperator"],
            &alarm["TreatMissingData"],
            &alarm["AlarmActions"],
            &alarm["AlarmDescription"],
            &alarm["Period"],
            &alarm["Threshold"]
        ],
        [
            &json!("AWS/X-Ray"),
            &json!({"GroupName": "slow"}),
            &json!("GreaterThanOrEqualToThreshold"),
            &json!("notBreaching"),
            &json!(["http://127.0.0.1:9/hook"]),
            &json!("too many slow traces"),
            &json!(120),
            &json!(2.5)
        ]
    );

    let history = trace_at(&server, &["alarms", "history", "busy", "--json"]);
    assert_eq!(history.status.code(), Some(1), "no changes of state yet");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&history.stdout).unwrap(), json!({"AlarmHistoryItems": []}));

    let refused =
        trace_at(&server, &["alarms", "create", "bad", "--metric", "M", "--period", "30", "--threshold", "1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&refused.stderr), "error: Period must be a positive multiple of 60 seconds\n");
    let usage =
        trace_at(&server, &["alarms", "create", "bad", "--metric", "M", "--threshold", "1", "--comparison", "=="]);
    assert_eq!(usage.status.code(), Some(2));

    assert_eq!(stdout(&trace_at(&server, &["alarms", "delete", "busy"])), "deleted alarm busy\n");
    assert_eq!(trace_at(&server, &["alarms", "list"]).status.code(), Some(1));
}
