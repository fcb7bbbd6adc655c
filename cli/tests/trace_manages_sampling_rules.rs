//! `trace sampling` against a running `fluoro serve`: create, list, update and delete a
//! sampling rule, as tables and as X-Ray's JSON; a refused value exits 2 with the server's
//! message naming the field.

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_histogram_queries_a_running_server::stdout;
use crate::trace_manages_groups::{json_of, trace_at};

#[test]
fn trace_sampling_create_list_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let created = stdout(&trace_at(
        &server,
        &["sampling", "create", "checkout", "--priority", "10", "--fixed-rate", "0.5", "--reservoir", "2"],
    ));
    let lines: Vec<&str> = created.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PRIORITY", "RESERVOIR", "RATE", "SERVICE", "TYPE", "HOST", "METHOD", "PATH", "ATTRIBUTES"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["checkout", "10", "2", "0.5", "*", "*", "*", "*", "*", "-"]
    );

    let updated = json_of(&trace_at(
        &server,
        &["sampling", "update", "checkout", "--url-path", "/checkout*", "--attribute", "tier=gold", "--json"],
    ));
    let rule = &updated["SamplingRuleRecord"]["SamplingRule"];
    assert_eq!(
        (&rule["URLPath"], &rule["Attributes"], &rule["FixedRate"]),
        (&json!("/checkout*"), &json!({"tier": "gold"}), &json!(0.5))
    );

    let listed = json_of(&trace_at(&server, &["sampling", "list", "--json"]));
    assert_eq!(listed, server.post("/GetSamplingRules", json!({})), "the server's answer as it is");
    let names: Vec<&Value> = listed["SamplingRuleRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| &record["SamplingRule"]["RuleName"])
        .collect();
    assert_eq!(names, [&json!("checkout"), &json!("Default")]);
    let table = stdout(&trace_at(&server, &["sampling", "list"]));
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["checkout", "10", "2", "0.5", "*", "*", "*", "*", "/checkout*", "tier=gold"]);

    let refused = trace_at(&server, &["sampling", "update", "checkout", "--fixed-rate", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).starts_with("error: FixedRate"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    assert_eq!(stdout(&trace_at(&server, &["sampling", "delete", "checkout"])), "deleted sampling rule checkout\n");
    let listed = json_of(&trace_at(&server, &["sampling", "list", "--json"]));
    assert_eq!(listed["SamplingRuleRecords"].as_array().unwrap().len(), 1, "{listed}");
}
