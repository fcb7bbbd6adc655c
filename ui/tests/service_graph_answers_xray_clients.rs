//! `POST /ServiceGraph`, `/TraceGraph` and `/TimeSeriesServiceStatistics` answer X-Ray
//! clients: boto3 parses the shapes (nodes, edges with counts, epoch-second timestamps), and
//! bad requests get `InvalidRequestException` with a clear message. The data is the analyzer's
//! pet store (see `analyzer/tests/petstore.rs`).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api_server::{post, serve};
use crate::python_script;

#[path = "../../analyzer/tests/petstore.rs"]
#[allow(dead_code)]
mod petstore;

fn edge(from: [&str; 2], to: [&str; 2], counts: [u64; 4], response_time: f64) -> Value {
    let [ok, error, throttle, fault] = counts;
    json!({"from": from, "to": to, "ok": ok, "error": error, "throttle": throttle, "fault": fault,
           "total": ok + error + throttle + fault, "response_time": response_time,
           "histogram_count": ok + error + throttle + fault, "start_type": "datetime"})
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_reads_service_graph_trace_graph_and_time_series() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(Arc::new(petstore::petstore(dir.path()))).await;
    let arguments = vec![
        format!("http://{address}"),
        petstore::BASE.to_string(),
        (petstore::BASE + 3600.0).to_string(),
        petstore::trace_id(0),
    ];
    let result = python_script::run("service_graph.py", arguments).await;

    let (ec2, ecs) = ("AWS::EC2::Instance", "AWS::ECS::Container");
    assert_eq!(
        result["graph"]["nodes"],
        json!([
            ["DynamoDB", "AWS::DynamoDB::Table"],
            ["SQS", "AWS::SQS::Queue"],
            ["payforadoption", ecs],
            ["petsearch", ecs],
            ["petsite", ec2],
            ["petsite", "client"],
            ["petstore@db.example", "Database::SQL"]
        ])
    );
    assert_eq!(
        result["graph"]["edges"],
        json!([
            edge(["payforadoption", ecs], ["SQS", "AWS::SQS::Queue"], [9, 0, 1, 0], 0.2),
            edge(["payforadoption", ecs], ["petstore@db.example", "Database::SQL"], [10, 0, 0, 0], 0.3),
            edge(["petsearch", ecs], ["DynamoDB", "AWS::DynamoDB::Table"], [20, 0, 0, 0], 0.1),
            edge(["petsite", ec2], ["payforadoption", ecs], [10, 0, 0, 0], 0.8),
            edge(["petsite", ec2], ["petsearch", ecs], [12, 4, 2, 2], 2.1),
            edge(["petsite", "client"], ["petsite", ec2], [19, 0, 0, 1], 20.19),
        ])
    );
    assert_eq!(result["graph_start_type"], json!("datetime"), "botocore parses it as a timestamp");
    assert_eq!(
        result["root"],
        json!({"Root": true, "State": "active", "AccountId": petstore::ACCOUNT, "durations": petstore::TRACES})
    );
    assert_eq!(result["default_group"], json!(7));
    // Trace 0: the petsearch call faulted, SQS throttled.
    assert_eq!(result["trace_graph"]["nodes"].as_array().unwrap().len(), 7);
    assert_eq!(result["trace_graph"]["edges"][4], edge(["petsite", ec2], ["petsearch", ecs], [0, 0, 0, 1], 0.01));
    assert_eq!(
        result["series"],
        json!([{"timestamp_type": "datetime", "total": 6, "fault": 1},
               {"timestamp_type": "datetime", "total": 6, "fault": 1},
               {"timestamp_type": "datetime", "total": 6, "fault": 0},
               {"timestamp_type": "datetime", "total": 2, "fault": 0},
               {"timestamp_type": "datetime", "total": 0, "fault": 0}])
    );
    assert_eq!(result["node_series"], json!([20]));
    assert_eq!(
        result["bad_period"],
        json!({"code": "InvalidRequestException", "status": 400,
               "message": "Period 120 is not supported; expected 60 (1 minute) or 300 (5 minutes)"})
    );
    let bad_selector = result["bad_selector"]["message"].as_str().unwrap();
    assert!(bad_selector.contains("column"), "{bad_selector}");
    assert_eq!(result["unknown_group"]["status"], json!(400));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_graph_requests_are_answered_in_the_xray_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(Arc::new(petstore::petstore(dir.path()))).await;
    let start = petstore::BASE;
    let cases = [
        ("/ServiceGraph", json!({"EndTime": start}), "StartTime is required"),
        ("/ServiceGraph", json!({"StartTime": start, "EndTime": start - 1.0}), "must be after StartTime"),
        (
            "/ServiceGraph",
            json!({"StartTime": start, "EndTime": start + 1.0, "GroupName": "nope"}),
            "group \"nope\" does not exist",
        ),
        ("/TraceGraph", json!({}), "TraceIds is required"),
        ("/TraceGraph", json!({"TraceIds": ["nope"]}), "TraceIds[0] \"nope\" is not a trace id"),
        (
            "/TimeSeriesServiceStatistics",
            json!({"StartTime": start, "EndTime": start + 60.0, "EntitySelectorExpression": "fault"}),
            "is not an entity selector",
        ),
        (
            "/TimeSeriesServiceStatistics",
            json!({"StartTime": start, "EndTime": start + 60.0, "Period": -5}),
            "Period -5 is not supported",
        ),
    ];
    for (path, body, message) in cases {
        let (status, error_type, answer) = post(address, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(error_type.as_deref(), Some("InvalidRequestException"));
        let got = answer["message"].as_str().unwrap();
        assert!(got.contains(message), "{path} {body}: {got:?} should contain {message:?}");
    }
    let (status, _, answer) =
        post(address, "/TraceGraph", json!({"TraceIds": ["1-00000001-000000000000000000000001"]})).await;
    assert_eq!((status, answer), (200, json!({"Services": []})));
}
