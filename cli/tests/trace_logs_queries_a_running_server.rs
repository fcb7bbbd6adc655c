//! `trace logs` against a running `fluoro serve`: the log lines the OpenTelemetry Python SDK
//! exports inside a span come back as a trace's aligned lines, oldest first; a search by
//! service, text and severity finds those outside any span too, newest first; `--json` prints
//! the API's answer, and a search matching nothing exits with status 1.

use std::process::{Command, Output};

use serde_json::Value;

use crate::fluoro_serve_keeps_logs::log_with_python_sdk;
use crate::server::FluoroServer;

fn trace_logs(server: &FluoroServer, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .arg("logs")
        .args(arguments)
        .args(["--server", &server.url("")])
        .output()
        .unwrap()
}

/// The printed lines, after checking the run succeeded.
fn printed(run: &Output) -> Vec<String> {
    assert!(run.status.success(), "{:?}: {}", run.status, String::from_utf8_lossy(&run.stderr));
    String::from_utf8_lossy(&run.stdout).lines().map(str::to_owned).collect()
}

/// Time, service, severity and segment (single words), then the message; every message starts
/// at the same column.
fn columns(lines: &[String]) -> Vec<(String, String, String, String, String)> {
    let message_column = |line: &str| {
        let mut at = 0;
        for _ in 0..4 {
            at += line[at..].find(|c: char| c != ' ').unwrap();
            at += line[at..].find(' ').unwrap();
        }
        at + line[at..].find(|c: char| c != ' ').unwrap()
    };
    let column = message_column(&lines[0]);
    lines
        .iter()
        .map(|line| {
            assert_eq!(message_column(line), column, "aligned: {lines:#?}");
            let words: Vec<&str> = line[..column].split_whitespace().collect();
            let [time, service, severity, segment] = [words[0], words[1], words[2], words[3]].map(str::to_owned);
            (time, service, severity, segment, line[column..].to_owned())
        })
        .collect()
}

#[test]
fn trace_logs_prints_a_traces_lines_and_searches() {
    let data = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(data.path());
    let endpoint = format!("http://{}", server.addresses["otlp-grpc"]);
    let (trace_id, span_id) = log_with_python_sdk("grpc", &endpoint, "cli-logs");
    let xray_id = format!("1-{}-{}", &trace_id[..8], &trace_id[8..]);

    let trace = columns(&printed(&trace_logs(&server, &[&xray_id])));
    let summary: Vec<(&str, &str, &str, &str)> = trace
        .iter()
        .map(|(_, service, severity, segment, message)| (&**service, &**severity, &**segment, &**message))
        .collect();
    assert_eq!(
        summary,
        [
            ("pet-search", "INFO", &*span_id, "loading pet 42 cli-logs"),
            ("pet-search", "ERROR", &*span_id, "Illegal memory allocation cli-logs"),
        ]
    );
    for (time, ..) in &trace {
        assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.', "RFC 3339 with ms: {time}");
    }
    assert!(trace[0].0 <= trace[1].0, "oldest first: {trace:?}");
    let segment = printed(&trace_logs(&server, &[&trace_id, "--segment", &span_id]));
    assert_eq!(segment.len(), 2);

    let search =
        columns(&printed(&trace_logs(&server, &["--service", "pet-search", "--grep", "CLI-LOGS", "--since", "15m"])));
    let messages: Vec<(&str, &str)> = search.iter().map(|(.., segment, message)| (&**segment, &**message)).collect();
    assert_eq!(
        messages,
        [
            ("-", "cache is cold cli-logs"),
            (&*span_id, "Illegal memory allocation cli-logs"),
            (&*span_id, "loading pet 42 cli-logs")
        ],
        "newest first"
    );
    assert!(search[0].0 >= search[1].0 && search[1].0 >= search[2].0, "newest first: {search:?}");
    let warnings = printed(&trace_logs(&server, &["--grep", "cli-logs", "--severity", "WARN"]));
    assert_eq!(warnings.len(), 2, "{warnings:?}");

    let limited = trace_logs(&server, &["--grep", "cli-logs", "--limit", "2", "--json"]);
    let answer: Value = serde_json::from_str(&printed(&limited).join("\n")).unwrap();
    assert_eq!(answer["Logs"].as_array().unwrap().len(), 2);
    assert!(answer["NextToken"].is_string(), "the third line is left for the next page: {answer}");
    let json_trace: Value =
        serde_json::from_str(&printed(&trace_logs(&server, &[&trace_id, "--json"])).join("\n")).unwrap();
    assert_eq!(json_trace["Logs"][1]["Attributes"]["pet.id"], "42");

    let nothing = trace_logs(&server, &["--service", "payments", "--grep", "cli-logs"]);
    assert_eq!((nothing.status.code(), nothing.stdout.is_empty()), (Some(1), true));
    assert_eq!(String::from_utf8_lossy(&nothing.stderr), "no log lines matched\n");
    let bad = trace_logs(&server, &["not-a-trace-id"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    let mixed = trace_logs(&server, &[&trace_id, "--grep", "x"]);
    assert_eq!(mixed.status.code(), Some(2), "a trace id and search options are a usage error");
}
