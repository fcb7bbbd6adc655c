//! `POST /TraceSummaries` answers X-Ray clients: boto3 (filter, a root cause fed back as
//! `rootcause.json`, paginator, the modelled `InvalidRequestException` with the parser's
//! column-precise message) and plain HTTP for the request checks (time formats, window limit,
//! page tokens).

use std::net::SocketAddr;
use std::sync::Arc;

use fluoro_proto::parse_document;
use fluoro_proto::{Durability, SpanBatch};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::api_server::{post, serve};
use crate::python_script;

const T0: f64 = 1_700_000_000.0;
const TRACES: u32 = 130;

/// 130 traces one second apart; every tenth takes 2 s and faults, the rest 0.1 s.
fn store(dir: &TempDir) -> Arc<Store> {
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let mut batch = SpanBatch::new(Durability::Acknowledged);
    for number in 0..TRACES {
        let start = T0 + f64::from(number);
        let slow = number % 10 == 0;
        let document = json!({"trace_id": trace_id(number), "id": format!("{:016x}", number + 1), "name": "web",
            "start_time": start, "end_time": start + if slow { 2.0 } else { 0.1 },
            "http": {"request": {"method": "GET", "url": format!("https://shop.example.com/items/{number}")},
                     "response": {"status": if slow { 500 } else { 200 }}}});
        batch.push_document(parse_document(document.to_string().as_bytes()).unwrap(), None);
    }
    store.write(batch).unwrap();
    Arc::new(store)
}

fn trace_id(number: u32) -> String {
    format!("1-{:08x}-{:024x}", T0 as u32 + number, number)
}

async fn post_summaries(address: SocketAddr, body: Value) -> (u16, Option<String>, Value) {
    post(address, "/TraceSummaries", body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_filters_pages_and_reads_invalid_request_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    let arguments = vec![format!("http://{address}"), T0.to_string(), (T0 + 3600.0).to_string()];
    let result = python_script::run("trace_summaries.py", arguments).await;

    let slow: Vec<Value> = (0..TRACES).step_by(10).map(|number| json!(trace_id(number))).collect();
    assert_eq!(result["slow"], json!(slow));
    assert_eq!(
        result["slow_first"],
        json!({"ResponseTime": 2.0, "HasFault": true,
               "Http": {"HttpURL": "https://shop.example.com/items/0", "HttpStatus": 500, "HttpMethod": "GET"}})
    );
    assert_eq!(
        result["fault_root_cause"],
        json!({"Services": [{"Name": "web", "Names": ["web"], "Inferred": false,
                             "EntityPath": [{"Name": "web", "Exceptions": [], "Remote": false}]}],
               "ClientImpacting": true})
    );
    // Only the faulting traces: every trace has a response-time cause through the same
    // service, but its entity carries Coverage, not Exceptions.
    assert_eq!(result["same_cause"], json!(slow), "a fault root cause copied from the answer finds its traces");
    assert_eq!(result["processed"], json!(TRACES));
    assert_eq!(result["approximate_time_type"], json!("datetime"), "botocore parses it as a timestamp");
    assert_eq!((result["pages"].clone(), result["all"].clone()), (json!(2), json!(TRACES)));
    assert_eq!(
        result["invalid"],
        json!({"code": "InvalidRequestException", "status": 400,
               "message": "expected a number after > at column 16"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_are_answered_in_the_xray_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    let window = json!({"StartTime": T0, "EndTime": T0 + 60.0});
    let with = |extra: Value| {
        let mut body = window.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            with(json!({"FilterExpression": "service(\"web\") { fault"})),
            "unbalanced { at column 16: no } before the end of the expression",
        ),
        (with(json!({"FilterExpression": "responsetime >"})), "expected a number after > at column"),
        (with(json!({"FilterExpression": "group.name = \"nope\""})), "group \"nope\" does not exist"),
        (
            with(json!({"FilterExpression": "rootcause.json = #[{\"Service\": []}]"})),
            "rootcause.json: [0] has the key \"Service\", which a root cause does not have",
        ),
        (json!({"EndTime": T0}), "StartTime is required"),
        (json!({"StartTime": T0, "EndTime": T0 - 1.0}), "must be after StartTime"),
        (
            json!({"StartTime": T0, "EndTime": T0 + 2.0 * 86_400.0}),
            "at most 86400 s per call (limits.query_window_seconds)",
        ),
        (json!({"StartTime": "last tuesday", "EndTime": T0}), "StartTime must be epoch seconds or an RFC 3339 time"),
        (with(json!({"TimeRangeType": "Service"})), "TimeRangeType \"Service\" is not supported"),
        (with(json!({"NextToken": "not-a-token"})), "NextToken is not a token this server issued"),
        (with(json!({"Sampling": true, "SamplingStrategy": {"Name": "FixedRate", "Value": 2}})), "within 0 and 1"),
    ];
    for (body, message) in cases {
        let (status, error_type, answer) = post_summaries(address, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_type.as_deref(), Some("InvalidRequestException"));
        assert_eq!(answer["__type"], json!("InvalidRequestException"));
        let got = answer["message"].as_str().unwrap();
        assert!(got.contains(message), "{body}: {got:?} should contain {message:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc3339_times_tokens_and_sampling_work_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    // 2023-11-14T22:13:20Z is T0.
    let body =
        json!({"StartTime": "2023-11-14T22:13:20Z", "EndTime": "2023-11-14T23:13:20Z", "FilterExpression": "ok"});
    let (status, _, first) = post_summaries(address, body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["TraceSummaries"].as_array().unwrap().len(), 100);
    assert_eq!(first["ApproximateTime"], json!(T0 + 1.0));
    let token = first["NextToken"].as_str().unwrap().to_owned();
    let mut next = body.clone();
    next["NextToken"] = json!(token);
    let (_, _, second) = post_summaries(address, next).await;
    assert_eq!(second["TraceSummaries"].as_array().unwrap().len(), 117 - 100);
    assert!(second.get("NextToken").is_none());
    // A token is tied to its query.
    let mut other = json!({"StartTime": T0, "EndTime": T0 + 3600.0, "FilterExpression": "fault"});
    other["NextToken"] = json!(token);
    let (status, _, answer) = post_summaries(address, other).await;
    assert_eq!(
        (status, answer["message"].as_str().unwrap()),
        (400, "NextToken belongs to a different query; repeat the query that returned it")
    );

    let sampled = json!({"StartTime": T0, "EndTime": T0 + 3600.0, "Sampling": true,
                         "SamplingStrategy": {"Name": "PartialScan", "Value": 0.25}});
    let (_, _, once) = post_summaries(address, sampled.clone()).await;
    let (_, _, twice) = post_summaries(address, sampled).await;
    assert_eq!(once, twice, "sampling is deterministic");
    let processed = once["TracesProcessedCount"].as_u64().unwrap();
    assert!(processed > 10 && processed < 70, "about a quarter of 130, got {processed}");
}
