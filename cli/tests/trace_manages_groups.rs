//! `trace groups` against a running `fluoro serve`: create, list, get, update and delete a
//! group, as tables and as X-Ray's JSON; a bad filter is refused with a caret, an unknown group
//! with exit status 2.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_histogram_queries_a_running_server::stdout;

pub(crate) fn trace_at(server: &FluoroServer, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace")).args(arguments).args(["--endpoint", &server.url("")]).output().unwrap()
}

pub(crate) fn json_of(run: &Output) -> Value {
    serde_json::from_str(&stdout(run)).unwrap()
}

#[test]
fn trace_groups_create_list_get_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let created =
        stdout(&trace_at(&server, &["groups", "create", "slow", "--filter", "responsetime > 2", "--insights"]));
    assert_eq!(
        created.lines().collect::<Vec<_>>(),
        ["NAME  FILTER            INSIGHTS  NOTIFICATIONS", "slow  responsetime > 2  on        off"]
    );
    let listed = stdout(&trace_at(&server, &["groups", "list"]));
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "NAME     FILTER            INSIGHTS  NOTIFICATIONS",
            "Default  (every trace)     off       off",
            "slow     responsetime > 2  on        off",
        ]
    );
    let group = json_of(&trace_at(&server, &["groups", "get", "slow", "--json"]));
    assert_eq!(group, server.post("/GetGroup", json!({"GroupName": "slow"})), "the server's answer as it is");
    assert_eq!(group["Group"]["FilterExpression"], "responsetime > 2");
    assert_eq!(
        group["Group"]["InsightsConfiguration"],
        json!({"InsightsEnabled": true, "NotificationsEnabled": false})
    );

    let updated = json_of(&trace_at(&server, &["groups", "update", "slow", "--filter", "responsetime > 3", "--json"]));
    assert_eq!(updated["Group"]["FilterExpression"], "responsetime > 3");
    assert_eq!(updated["Group"]["InsightsConfiguration"]["InsightsEnabled"], true, "what is not given stays");

    let bad = trace_at(&server, &["groups", "update", "slow", "--filter", "responsetime >"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.ends_with("  responsetime >\n                ^\n"), "{stderr}");

    assert_eq!(stdout(&trace_at(&server, &["groups", "delete", "slow"])), "deleted group slow\n");
    let listed = json_of(&trace_at(&server, &["groups", "list", "--json"]));
    let names: Vec<&Value> = listed["Groups"].as_array().unwrap().iter().map(|group| &group["GroupName"]).collect();
    assert_eq!(names, [&json!("Default")]);
    let unknown = trace_at(&server, &["groups", "get", "slow"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("slow"), "{}", String::from_utf8_lossy(&unknown.stderr));
}
