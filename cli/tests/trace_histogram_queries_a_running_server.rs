//! `trace histogram` against a running `fluoro serve`: segments put through PutTraceSegments
//! come back as exact percentiles and a 1-2-5 bar chart, as JSON with `--json`, scoped by a
//! group with `--group`; a bad expression is shown with a caret under its column.

use std::process::Output;

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_filter_queries_a_running_server::{document, run_trace};

fn histogram(server: &FluoroServer, arguments: &[&str]) -> Output {
    run_trace("histogram", server, arguments)
}

pub(crate) fn stdout(run: &Output) -> String {
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8_lossy(&run.stdout).into_owned()
}

pub(crate) fn seeded() -> (tempfile::TempDir, FluoroServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let documents = vec![
        document(1, 0.02, 200),
        document(2, 0.04, 500),
        document(3, 0.06, 200),
        document(4, 0.08, 503),
        document(5, 1.0, 500),
    ];
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": documents}));
    assert_eq!(answer["UnprocessedTraceSegments"], json!([]));
    (dir, server)
}

#[test]
fn trace_histogram_prints_exact_percentiles_and_a_chart() {
    let (_dir, server) = seeded();
    // The 5xx: 40, 80 and 1000 ms. Nearest rank of 3: p50 is the 2nd, p90 the 3rd.
    let printed = stdout(&histogram(&server, &["http.status >= 500"]));
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], "       | response time | duration", "{printed}");
    assert_eq!(lines[1], "traces | 3             | 3", "{printed}");
    for (line, expected) in
        [(2, "min    | 0.040s"), (3, "p50    | 0.080s"), (4, "p90    | 1.000s"), (8, "mean   | 0.373s")]
    {
        assert!(lines[line].starts_with(expected), "{expected:?} in {printed}");
    }
    let chart = &lines[lines.iter().position(|line| *line == "response time:").unwrap() + 1..];
    let bar = "#".repeat(40);
    assert_eq!(
        chart,
        [
            format!("    [20ms, 50ms)  {bar}  1"),
            format!("   [50ms, 100ms)  {bar}  1"),
            format!("  [100ms, 200ms)  {:40}  0", ""),
            format!("  [200ms, 500ms)  {:40}  0", ""),
            format!("     [500ms, 1s)  {:40}  0", ""),
            format!("        [1s, 2s)  {bar}  1"),
        ],
        "{printed}"
    );

    let everything = stdout(&histogram(&server, &["--duration"]));
    assert!(everything.contains("traces | 5 ") && everything.contains("\nduration:\n"), "{everything}");

    let report: Value = serde_json::from_str(&stdout(&histogram(&server, &["http.status >= 500", "--json"]))).unwrap();
    assert_eq!(report["ResponseTime"]["Summary"]["P99"], 1.0);
    assert_eq!(report["Duration"]["Distribution"].as_array().unwrap().len(), 3);
}

#[test]
fn trace_histogram_scopes_by_group_and_points_at_bad_expressions() {
    let (_dir, server) = seeded();
    server.post("/CreateGroup", json!({"GroupName": "fast", "FilterExpression": "responsetime < 0.07"}));
    let report: Value =
        serde_json::from_str(&stdout(&histogram(&server, &["http.status >= 500", "--group", "fast", "--json"])))
            .unwrap();
    assert_eq!((&report["Traces"], &report["ResponseTime"]["Summary"]["Max"]), (&json!(1), &json!(0.04)));

    let bad = histogram(&server, &["responsetime > \"x\""]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr, "error: expected a number after > at column 16\n  responsetime > \"x\"\n                 ^\n");
    let unknown = histogram(&server, &["fault", "--group", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&unknown.stderr), "error: group \"nope\" does not exist\n");
}
