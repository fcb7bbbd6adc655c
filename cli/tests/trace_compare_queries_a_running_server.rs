//! `trace compare` against a running `fluoro serve`: `--group` keeps only the group's traces in
//! both sets, the default baseline (the rest) included; an unknown group exits 2 and says so.
//! The traces are `trace histogram`'s: 20 ms (200), 40 ms (500), 60 ms (200), 80 ms (503), 1 s (500).

use std::process::Output;

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_filter_queries_a_running_server::run_trace;
use crate::trace_histogram_queries_a_running_server::{seeded, stdout};

fn compare(server: &FluoroServer, arguments: &[&str]) -> Output {
    run_trace("compare", server, arguments)
}

fn set_sizes(arguments: &[&str], server: &FluoroServer) -> (Value, Value) {
    let comparison: Value = serde_json::from_str(&stdout(&compare(server, arguments))).unwrap();
    (comparison["Selection"]["Traces"].clone(), comparison["Baseline"]["Traces"].clone())
}

#[test]
fn trace_compare_scopes_both_sets_by_group() {
    let (_dir, server) = seeded();
    server.post("/CreateGroup", json!({"GroupName": "fast", "FilterExpression": "responsetime < 0.07"}));
    assert_eq!(set_sizes(&["http.status >= 500", "--json"], &server), (json!(3), json!(2)));
    // The group holds 20, 40 and 60 ms: the 500 of 40 ms vs the two 200s.
    assert_eq!(set_sizes(&["http.status >= 500", "--group", "fast", "--json"], &server), (json!(1), json!(2)));
    let table = stdout(&compare(&server, &["http.status >= 500", "--group", "fast"]));
    assert!(table.lines().any(|line| line.trim_end() == "traces     | 1                  | 2"), "{table}");

    let unknown = compare(&server, &["fault", "--group", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&unknown.stderr), "error: group \"nope\" does not exist\n");
}
