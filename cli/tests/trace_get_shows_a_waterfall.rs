//! `trace get` against a running `fluoro serve`: a trace of two services put through
//! PutTraceSegments comes back as an indented waterfall (the downstream segment under the
//! subsegment that called it), with `--full` fields and as JSON; a trace the server does not
//! hold exits 1, a server nobody runs exits 3 and says how to start one.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_filter_queries_a_running_server::T0;
use crate::trace_histogram_queries_a_running_server::stdout;

const TRACE_ID: &str = "1-6553f100-0000000000000000000000aa";

/// `web` answers 502 after 1 s; it called `payments` (0.2–0.9 s), which timed out on its
/// database and faulted with an exception.
fn documents() -> Vec<String> {
    let web = json!({"trace_id": TRACE_ID, "id": "00000000000000a1", "name": "web", "origin": "AWS::EC2::Instance",
        "start_time": T0, "end_time": T0 + 1.0, "fault": true,
        "http": {"request": {"method": "POST", "url": "http://web/api/adopt"}, "response": {"status": 502}},
        "annotations": {"customer": "acme"},
        "subsegments": [{"id": "00000000000000a2", "name": "payments", "namespace": "remote",
                         "start_time": T0 + 0.2, "end_time": T0 + 0.9, "fault": true,
                         "http": {"request": {"method": "POST", "url": "http://payments/pay"}, "response": {"status": 500}}}]});
    let payments = json!({"trace_id": TRACE_ID, "id": "00000000000000b1", "parent_id": "00000000000000a2",
        "name": "payments", "start_time": T0 + 0.25, "end_time": T0 + 0.85, "fault": true,
        "http": {"request": {"method": "POST", "url": "http://payments/pay"}, "response": {"status": 500}},
        "cause": {"exceptions": [{"id": "0000000000000e01", "type": "TimeoutError", "message": "database did not answer"}]},
        "subsegments": [{"id": "00000000000000b2", "name": "orders@db", "namespace": "remote",
                         "start_time": T0 + 0.3, "end_time": T0 + 0.8, "error": true,
                         "sql": {"url": "postgresql://db/orders", "sanitized_query": "SELECT 1"}}]});
    vec![web.to_string(), payments.to_string()]
}

/// `trace get ARGUMENTS…` against `server`.
fn get(server: &FluoroServer, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .arg("get")
        .args(arguments)
        .args(["--endpoint", &server.url("")])
        .output()
        .unwrap()
}

fn seeded() -> (tempfile::TempDir, FluoroServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": documents()}));
    assert_eq!(answer["UnprocessedTraceSegments"], json!([]));
    (dir, server)
}

#[test]
fn trace_get_prints_the_trace_as_an_indented_waterfall() {
    let (_dir, server) = seeded();
    let printed = stdout(&get(&server, &[TRACE_ID]));
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], format!("{TRACE_ID}  1.000s  4 spans"), "{printed}");
    let columns: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(columns, ["NAME", "SERVICE", "START", "DURATION", "STATUS", "TIMELINE", "EXCEPTION"], "{printed}");
    // NAME, SERVICE, START, DURATION, STATUS, then the timeline and the exception.
    let expected = [
        ("web", "web", "+0ms", "1.000s", "502 fault", 0, 30, ""),
        ("  payments", "web", "+200ms", "700ms", "500 fault", 6, 21, ""),
        ("    payments", "payments", "+250ms", "600ms", "500 fault", 8, 18, "TimeoutError: database did not answer"),
        ("      orders@db", "payments", "+300ms", "500ms", "error", 9, 15, ""),
    ];
    let timeline = lines[1].find("TIMELINE").unwrap();
    for (line, (name, service, start, duration, status, begin, length, exception)) in lines[2..].iter().zip(expected) {
        let cells: Vec<&str> = line[..timeline].split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect();
        assert_eq!(cells, [name.trim(), service, start, duration, status], "{printed}");
        assert!(line.starts_with(name) && !line[name.len()..].starts_with(|c: char| c.is_alphanumeric()), "{printed}");
        let bar = format!("|{}{}{}|", " ".repeat(begin), "=".repeat(length), " ".repeat(30 - begin - length));
        assert_eq!(&line[timeline..timeline + 32], bar, "{printed}");
        assert_eq!(line[timeline + 32..].trim(), exception, "{printed}");
    }
    assert_eq!(lines.len(), 6, "{printed}");

    let full = stdout(&get(&server, &[TRACE_ID, "--full"]));
    assert!(full.contains("\n    annotations: {\"customer\":\"acme\"}\n"), "{full}");
    assert!(
        full.contains("          sql: {\"sanitized_query\":\"SELECT 1\",\"url\":\"postgresql://db/orders\"}"),
        "{full}"
    );
    assert!(!printed.contains("annotations:") && !printed.contains('\x1b'), "plain when not a terminal: {printed}");
}

#[test]
fn trace_get_prints_json_and_exits_1_for_a_missing_trace() {
    let (_dir, server) = seeded();
    // The W3C form of the id names the same trace.
    let w3c = TRACE_ID.replace("1-", "").replace('-', "");
    let answer: Value = serde_json::from_str(&stdout(&get(&server, &[&w3c, "--json"]))).unwrap();
    let spans = answer["Traces"][0]["Spans"].as_array().unwrap();
    let tree: Vec<(&str, u64, &str)> = spans
        .iter()
        .map(|span| (span["Id"].as_str().unwrap(), span["Depth"].as_u64().unwrap(), span["Service"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tree,
        [
            ("00000000000000a1", 0, "web"),
            ("00000000000000a2", 1, "web"),
            ("00000000000000b1", 2, "payments"),
            ("00000000000000b2", 3, "payments")
        ]
    );
    assert_eq!(spans[2]["ParentId"], "00000000000000a2");
    assert_eq!(spans[2]["Exception"], "TimeoutError: database did not answer");
    assert_eq!(
        (&spans[0]["HttpStatus"], &spans[0]["Fault"], &spans[3]["Error"]),
        (&json!(502), &json!(true), &json!(true))
    );
    assert!((spans[1]["Offset"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(spans[0]["Annotations"], json!({"customer": "acme"}));
    assert_eq!(answer["UnprocessedTraceIds"], json!([]));

    let missing_id = "1-6553f100-0000000000000000000000bb";
    let missing = get(&server, &[TRACE_ID, missing_id]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stdout).starts_with(TRACE_ID));
    assert_eq!(String::from_utf8_lossy(&missing.stderr), format!("trace {missing_id} not found\n"));

    let address = server.url("");
    drop(server);
    let unreachable = std::process::Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["get", TRACE_ID, "--server", &address])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(stderr.contains(&format!("cannot reach {address}/Traces")) && stderr.contains("fluoro serve"), "{stderr}");
}
