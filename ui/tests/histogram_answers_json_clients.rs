//! `POST /api/histogram` over real HTTP: a filter's exact percentiles and buckets, scoped by a
//! group created through `/CreateGroup`; an invalid expression is a 400 with the parser's
//! column, and other bad requests are 400s that say what was wrong.

use std::sync::Arc;

use fluoro_proto::parse_document;
use fluoro_proto::{Durability, SpanBatch};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::api_server::{post, serve};

pub(crate) const T0: f64 = 1_700_000_000.0;
/// Response times of the ten traces, one second apart; the odd ones answer 500.
const RESPONSE_MS: [f64; 10] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0];

pub(crate) fn store(dir: &TempDir) -> Arc<Store> {
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let mut batch = SpanBatch::new(Durability::Acknowledged);
    for (number, response_ms) in (0u32..).zip(RESPONSE_MS) {
        let start = T0 + f64::from(number);
        let document = json!({"trace_id": format!("1-{:08x}-{:024x}", T0 as u32 + number, number),
            "id": format!("{:016x}", number + 1), "name": "web", "start_time": start, "end_time": start + response_ms / 1000.0,
            "http": {"request": {"method": "GET", "url": "https://shop.example.com/items"},
                     "response": {"status": if number % 2 == 1 { 500 } else { 200 }}}});
        batch.push_document(parse_document(document.to_string().as_bytes()).unwrap(), None);
    }
    store.write(batch).unwrap();
    Arc::new(store)
}

pub(crate) fn window(fields: Value) -> Value {
    let mut body = json!({"StartTime": T0, "EndTime": T0 + 60.0});
    body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_gets_exact_percentiles_and_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;

    // 500s: 20, 40, 60, 80, 1000 ms. Nearest rank of 5: p50 is the 3rd, p90 and up the 5th.
    let (status, _, report) =
        post(address, "/api/histogram", window(json!({"FilterExpression": "http.status = 500"}))).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["Traces"], 5);
    let response = &report["ResponseTime"];
    assert_eq!(
        response["Summary"],
        json!({"Min": 0.02, "Max": 1.0, "Mean": 0.24, "P50": 0.06, "P90": 1.0, "P95": 1.0, "P99": 1.0})
    );
    let buckets = json!([{"Value": 0.02, "Count": 1}, {"Value": 0.04, "Count": 1}, {"Value": 0.06, "Count": 1},
                         {"Value": 0.08, "Count": 1}, {"Value": 1.0, "Count": 1}]);
    assert_eq!(response["Distribution"], buckets);
    assert_eq!(report["Duration"], report["ResponseTime"], "single-segment traces last as long as they answer");

    // No expression: all ten; 10..90 ms share no bucket, p90 is the 9th.
    let (_, _, everything) = post(address, "/api/histogram", window(json!({}))).await;
    assert_eq!((&everything["Traces"], &everything["ResponseTime"]["Summary"]["P90"]), (&json!(10), &json!(0.09)));
    let (_, _, blank) = post(address, "/api/histogram", window(json!({"FilterExpression": "  "}))).await;
    assert_eq!(blank, everything, "a blank expression is no expression");

    // A group narrows the expression: slow 500s.
    let (status, _, created) =
        post(address, "/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime >= 0.05"})).await;
    assert_eq!(status, 200);
    let scoped = window(json!({"FilterExpression": "http.status = 500", "GroupName": "slow"}));
    let (status, _, report) = post(address, "/api/histogram", scoped).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["Traces"], 3);
    assert_eq!(report["ResponseTime"]["Summary"]["P50"], 0.08);
    let by_arn = window(json!({"FilterExpression": "http.status = 500", "GroupARN": created["Group"]["GroupARN"]}));
    assert_eq!(post(address, "/api/histogram", by_arn).await.2, report);
    let (_, _, default) = post(address, "/api/histogram", window(json!({"GroupName": "Default"}))).await;
    assert_eq!(default["Traces"], 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_400s_that_say_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    let refused = |body: Value| async move {
        let (status, _, answer) = post(address, "/api/histogram", body).await;
        assert_eq!((status, &answer["__type"]), (400, &json!("InvalidRequestException")), "{answer}");
        answer["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        refused(window(json!({"FilterExpression": "responsetime > \"x\""}))).await,
        "expected a number after > at column 16"
    );
    assert_eq!(refused(window(json!({"GroupName": "nope"}))).await, "group \"nope\" does not exist");
    assert!(refused(window(json!({"FilterExpression": "ok OR ".repeat(1000)}))).await.contains("at most 4096"));
    assert!(refused(json!({"StartTime": T0, "EndTime": T0 + 200_000.0})).await.contains("at most 86400 s"));
    assert!(refused(window(json!({"Filter": "ok"}))).await.contains("unknown field `Filter`"));
}
