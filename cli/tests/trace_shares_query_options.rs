//! Options every `trace` query shares: `FLUORO_ENDPOINT` names the server, an unreachable one
//! is named with how to start a server (exit 3), `--group` scopes `filter` with the caret still
//! under the typed expression, `--limit` cuts lists and is refused where nothing can be cut, and
//! every command's help shows examples and the exit statuses.

use std::process::Command;

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_filter_queries_a_running_server::{document, run_trace, T0};
use crate::trace_histogram_queries_a_running_server::stdout;

#[test]
fn trace_queries_share_endpoint_window_group_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let documents = vec![document(1, 0.2, 200), document(2, 3.5, 200), document(3, 4.0, 503)];
    server.post("/TraceSegments", json!({"TraceSegmentDocuments": documents}));
    server.post("/CreateGroup", json!({"GroupName": "slow", "FilterExpression": "responsetime > 1"}));

    let window = ["--from", "2023-11-14T22:13:20Z", "--to", &(T0 + 600.0).to_string()];
    let from_env = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["filter", "", "--json"])
        .args(window)
        .env("FLUORO_ENDPOINT", server.url(""))
        .output()
        .unwrap();
    let ids = |run: &std::process::Output| -> Vec<String> {
        let summaries: Value = serde_json::from_str(&stdout(run)).unwrap();
        summaries.as_array().unwrap().iter().map(|summary| summary["Id"].as_str().unwrap().to_owned()).collect()
    };
    let trace_id = |number: u32| format!("1-{:08x}-{:024x}", T0 as u32 + number, number);
    assert_eq!(ids(&from_env), [trace_id(1), trace_id(2), trace_id(3)], "RFC 3339 and FLUORO_ENDPOINT");
    assert_eq!(ids(&run_trace("filter", &server, &["", "--json", "--limit", "2"])), [trace_id(1), trace_id(2)]);
    assert_eq!(ids(&run_trace("filter", &server, &["ok", "--group", "slow", "--json"])), [trace_id(2)]);
    let none = run_trace("filter", &server, &["http.status = 418", "--group", "slow"]);
    assert_eq!(none.status.code(), Some(1), "nothing matched");

    let bad = run_trace("filter", &server, &["responsetime >", "--group", "slow"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: expected a number after > at column 15\n  responsetime >\n                ^\n",
        "the column of the typed expression, not of the group-scoped one sent"
    );
    let refused = run_trace("histogram", &server, &["--limit", "3"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&refused.stderr), "error: --limit does not apply to `trace histogram`\n");
    let whole_trace = run_trace("logs", &server, &[&trace_id(1), "--limit", "3"]);
    assert_eq!(String::from_utf8_lossy(&whole_trace.stderr), "error: --limit does not apply to `trace logs ID`\n");
    assert_eq!(whole_trace.status.code(), Some(2));

    let address = server.url("");
    drop(server);
    for command in
        [&["map"][..], &["tail"], &["groups", "list"], &["sampling", "list"], &["alarms", "list"], &["filter", "fault"]]
    {
        let unreachable =
            Command::new(env!("CARGO_BIN_EXE_trace")).args(command).env("FLUORO_ENDPOINT", &address).output().unwrap();
        assert_eq!(unreachable.status.code(), Some(3), "{command:?}");
        let stderr = String::from_utf8_lossy(&unreachable.stderr);
        assert!(
            stderr.contains(&format!("cannot reach {address}/")) && stderr.contains("fluoro serve"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn every_command_has_examples_and_exit_statuses_in_its_help() {
    let commands = [
        "alarms",
        "compare",
        "completions",
        "filter",
        "get",
        "groups",
        "histogram",
        "id",
        "logs",
        "map",
        "sampling",
        "tail",
    ];
    for command in commands {
        let help = stdout(&Command::new(env!("CARGO_BIN_EXE_trace")).args([command, "--help"]).output().unwrap());
        assert!(help.contains("Examples:\n") && help.contains(&format!("trace {command}")), "{command}: {help}");
        if command != "id" {
            assert!(help.contains("Exit status:"), "{command}: {help}");
        }
    }
    let top = stdout(&Command::new(env!("CARGO_BIN_EXE_trace")).arg("--help").output().unwrap());
    assert!(top.contains("FLUORO_ENDPOINT") && top.contains("Exit status: 0 found"), "{top}");
}
