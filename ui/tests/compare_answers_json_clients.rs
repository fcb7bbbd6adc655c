//! `POST /api/compare` over real HTTP, scoped by a group created through `/CreateGroup`: both
//! sets, the default baseline included, hold only the group's traces; an unknown group is a
//! 400. The traces are `/api/histogram`'s: 10 to 90 ms and 1 s, the odd ones answering 500.

use serde_json::{json, Value};

use crate::api_server::{post, serve};
use crate::histogram_answers_json_clients::{store, window};

fn set_sizes(comparison: &Value) -> (Value, Value) {
    (comparison["Selection"]["Traces"].clone(), comparison["Baseline"]["Traces"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_scopes_both_sets() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    let compare = |fields: Value| async move {
        let (status, _, answer) = post(address, "/api/compare", window(fields)).await;
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let (_, _, created) =
        post(address, "/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime >= 0.05"})).await;

    // Unscoped: 5 500s vs the 5 others.
    let everything = compare(json!({"Selection": "http.status = 500"})).await;
    assert_eq!(set_sizes(&everything), (json!(5), json!(5)));
    // The group holds the six traces of 50 ms and more: 500s 60, 80 and 1000 ms vs 50, 70, 90 ms.
    let scoped = compare(json!({"Selection": "http.status = 500", "GroupName": "slow"})).await;
    assert_eq!(set_sizes(&scoped), (json!(3), json!(3)));
    let status_500 = scoped["Ranking"].as_array().unwrap().iter().find(|row| row["Value"] == "500").unwrap();
    assert_eq!((&status_500["SelectionTraces"], &status_500["BaselineTraces"]), (&json!(3), &json!(0)));
    let by_arn = compare(json!({"Selection": "http.status = 500", "GroupARN": created["Group"]["GroupARN"]})).await;
    assert_eq!(by_arn, scoped);
    // An explicit baseline is scoped too: of the traces under 100 ms, those of 50 ms and more.
    let explicit =
        compare(json!({"Selection": "http.status = 500", "Baseline": "responsetime < 0.1", "GroupName": "slow"})).await;
    assert_eq!(set_sizes(&explicit), (json!(3), json!(5)));
    let default = compare(json!({"Selection": "http.status = 500", "GroupName": "Default"})).await;
    assert_eq!(set_sizes(&default), (json!(5), json!(5)));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_or_conflicting_groups_are_400s() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store(&dir)).await;
    let refused = |fields: Value| async move {
        let (status, _, answer) = post(address, "/api/compare", window(fields)).await;
        assert_eq!((status, &answer["__type"]), (400, &json!("InvalidRequestException")), "{answer}");
        answer["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(refused(json!({"Selection": "fault", "GroupName": "nope"})).await, "group \"nope\" does not exist");
    post(address, "/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime >= 0.05"})).await;
    let (_, _, other) = post(address, "/CreateGroup", json!({"GroupName": "other", "FilterExpression": "fault"})).await;
    let conflicting = json!({"GroupName": "slow", "GroupARN": other["Group"]["GroupARN"]});
    let (_, _, histogram) = post(address, "/api/histogram", window(conflicting.clone())).await;
    let mut compare = conflicting;
    compare["Selection"] = json!("fault");
    let message = refused(compare).await;
    assert!(message.contains("name different groups"), "{message}");
    assert_eq!(message, histogram["message"], "the same refusal as /api/histogram");
}
