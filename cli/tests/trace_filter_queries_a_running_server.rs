//! `trace filter` against a running `fluoro serve`: segments put through PutTraceSegments come
//! back as a table and as JSON, a bad expression is shown with a caret under its column, and
//! `group.name` names groups created through the API, which survive a restart.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::server::FluoroServer;

pub(crate) const T0: f64 = 1_700_000_000.0;

/// Trace `number`: one `checkout` segment starting `number` seconds after [`T0`].
pub(crate) fn document(number: u32, seconds: f64, status: u32) -> String {
    json!({"trace_id": format!("1-{:08x}-{:024x}", T0 as u32 + number, number), "id": format!("{:016x}", number + 1),
           "name": "checkout", "start_time": T0 + f64::from(number), "end_time": T0 + f64::from(number) + seconds,
           "http": {"request": {"method": "POST", "url": format!("https://shop.example.com/cart/{number}")},
                    "response": {"status": status}}})
    .to_string()
}

/// `trace SUBCOMMAND ARGUMENTS…` against `server`, over the ten minutes from [`T0`].
pub(crate) fn run_trace(subcommand: &str, server: &FluoroServer, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .arg(subcommand)
        .args(arguments)
        .args(["--endpoint", &server.url(""), "--from", &T0.to_string(), "--to", &(T0 + 600.0).to_string()])
        .output()
        .unwrap()
}

fn trace(server: &FluoroServer, arguments: &[&str]) -> Output {
    run_trace("filter", server, arguments)
}

#[test]
fn trace_filter_prints_matching_traces_and_points_at_bad_expressions() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let documents = vec![document(1, 0.2, 200), document(2, 3.5, 503), document(3, 0.1, 404)];
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": documents}));
    assert_eq!(answer["UnprocessedTraceSegments"], json!([]));

    let table = trace(&server, &["responsetime > 1"]);
    let stdout = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("ROOT CAUSE"), "{stdout}");
    for expected in ["1-6553f102-000000000000000000000002", "2023-11-14 22:13:22", "3.500s", "503 fault", "POST"] {
        assert!(lines[1].contains(expected), "{expected:?} in {stdout}");
    }
    assert!(lines[1].contains("https://shop.example.com/cart/2") && lines[1].ends_with("checkout"), "{stdout}");

    let json_run = trace(&server, &["error OR fault", "--json"]);
    let summaries: Value = serde_json::from_slice(&json_run.stdout).unwrap();
    let statuses: Vec<&Value> = summaries.as_array().unwrap().iter().map(|s| &s["Http"]["HttpStatus"]).collect();
    assert_eq!(statuses, vec![&json!(503), &json!(404)]);

    let bad = trace(&server, &["responsetime > \"x\""]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr, "error: expected a number after > at column 16\n  responsetime > \"x\"\n                 ^\n");
}

#[test]
fn trace_filter_names_groups_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let documents = vec![document(1, 0.2, 200), document(2, 3.5, 200), document(3, 4.0, 503)];
    server.post("/TraceSegments", json!({"TraceSegmentDocuments": documents}));
    let created = server.post("/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime > 1"}));
    let faults = json!({"GroupName": "slow-faults", "FilterExpression": "group.name = \"slow\" AND fault"});
    server.post("/CreateGroup", faults);
    assert!(server.stop().success());
    assert!(dir.path().join("groups.json").is_file());

    let server = FluoroServer::start(dir.path());
    assert_eq!(server.post("/GetGroup", json!({"GroupName": "slow"})), created, "same group, same ARN");
    let ids = |run: Output| -> Vec<String> {
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let summaries: Value = serde_json::from_slice(&run.stdout).unwrap();
        summaries.as_array().unwrap().iter().map(|summary| summary["Id"].as_str().unwrap().to_owned()).collect()
    };
    let trace_id = |number: u32| format!("1-{:08x}-{:024x}", T0 as u32 + number, number);
    assert_eq!(ids(trace(&server, &["group.name = \"slow\"", "--json"])), [trace_id(2), trace_id(3)]);
    assert_eq!(ids(trace(&server, &["group.name = \"slow-faults\"", "--json"])), [trace_id(3)]);
    let unknown = trace(&server, &["group.name = \"nope\""]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("group \"nope\" does not exist"));
}
