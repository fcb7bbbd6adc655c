//! `trace map` against a running `fluoro serve`: a known two-service data set comes back as a
//! node table and an edge table with exact rates, shares and percentiles, as the documented
//! JSON shape, as DOT that a real DOT parser (pydot) reads back with every name intact, scoped
//! by `--group` and `--filter`; an empty window exits 1.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::trace_filter_queries_a_running_server::{run_trace, T0};
use crate::trace_histogram_queries_a_running_server::stdout;

/// Four traces, `n` seconds after T0: `web` (EC2) answers in 0.125, 0.25, 0.375 and 1.5 s; it
/// calls `payments` (ECS) through a subsegment of 0.125 s (0.25 s the fourth time), which
/// answers in 0.0625 s (0.125 s). Trace 3 is throttled (429), trace 4 faults in both services.
/// Times are binary fractions, so the durations are exact.
pub(crate) fn map_documents() -> Vec<String> {
    let mut documents = Vec::new();
    for n in 1..=4u32 {
        let id = format!("1-{:08x}-{n:024x}", T0 as u32 + n);
        let start = T0 + f64::from(n);
        let (web, call, payments) = match n {
            4 => (1.5, 0.25, 0.125),
            _ => (0.125 * f64::from(n), 0.125, 0.0625),
        };
        let status = [200, 200, 429, 502][n as usize - 1];
        let payments_status = if n == 4 { 500 } else { 200 };
        let mut web_segment = json!({"trace_id": id, "id": format!("a{n:015x}"), "name": "web",
            "origin": "AWS::EC2::Instance", "start_time": start, "end_time": start + web,
            "http": {"request": {"method": "GET", "url": format!("http://web/pets/{n}")}, "response": {"status": status}},
            "subsegments": [{"id": format!("b{n:015x}"), "name": "payments", "namespace": "remote",
                             "start_time": start, "end_time": start + call, "fault": n == 4,
                             "http": {"request": {"method": "POST", "url": "http://payments/pay"},
                                      "response": {"status": payments_status}}}]});
        if n == 3 {
            web_segment["error"] = json!(true);
            web_segment["throttle"] = json!(true);
        }
        web_segment["fault"] = json!(n == 4);
        let payments_segment = json!({"trace_id": id, "id": format!("c{n:015x}"), "parent_id": format!("b{n:015x}"),
            "name": "payments", "origin": "AWS::ECS::Container", "start_time": start, "end_time": start + payments,
            "fault": n == 4, "http": {"request": {"method": "POST", "url": "http://payments/pay"},
                                      "response": {"status": payments_status}}});
        documents.push(web_segment.to_string());
        documents.push(payments_segment.to_string());
    }
    documents
}

pub(crate) fn seeded_map() -> (tempfile::TempDir, FluoroServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": map_documents()}));
    assert_eq!(answer["UnprocessedTraceSegments"], json!([]));
    (dir, server)
}

fn map(server: &FluoroServer, arguments: &[&str]) -> Output {
    run_trace("map", server, arguments)
}

/// The lines of `text`, each with its runs of spaces collapsed to one.
fn squeezed(text: &str) -> Vec<String> {
    text.lines().map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

#[test]
fn trace_map_prints_nodes_and_edges_with_their_statistics() {
    let (_dir, server) = seeded_map();
    // Four requests in the 10-minute window: 0.4 per minute. Nearest rank of 4: p50 is the
    // 2nd, p99 the 4th, read off the server's response-time histogram as the dashboard does:
    // bucket lower bounds at 2 significant digits of hdrhistogram's buckets, whose bucket for
    // a value on a decimal edge starts just below it (0.0625 s → 62 ms, 0.25 s → 240 ms,
    // 1.5 s → 1.4 s).
    let printed = stdout(&map(&server, &[]));
    assert_eq!(
        squeezed(&printed),
        [
            "SERVICE TYPE REQ/MIN ERROR THROTTLE FAULT P50 P99",
            "payments AWS::ECS::Container 0.4 0.0% 0.0% 25.0% 62ms 120ms",
            "web AWS::EC2::Instance 0.4 0.0% 25.0% 25.0% 240ms 1.400s",
            "web client - - - - - -",
            "",
            "FROM TO REQ/MIN ERROR THROTTLE FAULT P50 P99",
            "web → payments 0.4 0.0% 0.0% 25.0% 120ms 240ms",
            "web (client) → web 0.4 0.0% 25.0% 25.0% 240ms 1.400s",
        ],
        "{printed}"
    );
    // Numbers are right-aligned under their titles.
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[1].find("0.4").unwrap() + 3, lines[0].find("REQ/MIN").unwrap() + 7, "{printed}");
    assert!(!printed.contains('\x1b'), "plain when not a terminal: {printed}");

    let answer: Value = serde_json::from_str(&stdout(&map(&server, &["--json"]))).unwrap();
    assert_eq!((&answer["StartTime"], &answer["EndTime"]), (&json!(T0), &json!(T0 + 600.0)));
    let nodes = answer["Nodes"].as_array().unwrap();
    let id_of = |name: &str, kind: &str| {
        nodes.iter().find(|node| node["Name"] == name && node["Type"] == kind).unwrap()["Id"].clone()
    };
    let (payments, web, client) =
        (id_of("payments", "AWS::ECS::Container"), id_of("web", "AWS::EC2::Instance"), id_of("web", "client"));
    assert_eq!(
        nodes[1],
        json!({"Id": web, "Name": "web", "Type": "AWS::EC2::Instance", "Root": true, "Requests": 4,
               "RequestsPerMinute": 0.4, "ErrorShare": 0.0, "ThrottleShare": 0.25, "FaultShare": 0.25,
               "P50": 0.24, "P99": 1.4})
    );
    assert_eq!(nodes[2]["Requests"], Value::Null);
    assert_eq!(
        answer["Edges"],
        json!([
            {"From": web, "To": payments, "Requests": 4, "RequestsPerMinute": 0.4, "ErrorShare": 0.0,
             "ThrottleShare": 0.0, "FaultShare": 0.25, "P50": 0.12, "P99": 0.24},
            {"From": client, "To": web, "Requests": 4, "RequestsPerMinute": 0.4, "ErrorShare": 0.0,
             "ThrottleShare": 0.25, "FaultShare": 0.25, "P50": 0.24, "P99": 1.4},
        ])
    );
}

#[test]
fn trace_map_scopes_by_filter_and_group_and_exits_1_when_empty() {
    let (_dir, server) = seeded_map();
    // The fault trace alone: one request in ten minutes.
    let faults: Value = serde_json::from_str(&stdout(&map(&server, &["--filter", "fault", "--json"]))).unwrap();
    let web = faults["Nodes"].as_array().unwrap().iter().find(|node| node["Type"] == "AWS::EC2::Instance").unwrap();
    assert_eq!((&web["Requests"], &web["FaultShare"], &web["P50"]), (&json!(1), &json!(1.0), &json!(1.4)));

    server.post("/CreateGroup", json!({"GroupName": "fast", "FilterExpression": "responsetime < 0.3"}));
    let fast: Value = serde_json::from_str(&stdout(&map(&server, &["--group", "fast", "--json"]))).unwrap();
    let web = fast["Nodes"].as_array().unwrap().iter().find(|node| node["Type"] == "AWS::EC2::Instance").unwrap();
    assert_eq!((&web["Requests"], &web["ThrottleShare"], &web["P99"]), (&json!(2), &json!(0.0), &json!(0.24)));

    let bad = map(&server, &["--filter", "fault AND responsetime >"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    let caret = format!("  fault AND responsetime >\n  {}^\n", " ".repeat(24));
    assert!(stderr.ends_with(&caret), "{stderr}");

    let empty = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["map", "--endpoint", &server.url(""), "--from", "1600000000", "--to", "1600000600"])
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(1), "{}", String::from_utf8_lossy(&empty.stderr));
}

/// `dot` parsed by pydot: nodes and edges with their labels unquoted.
fn parsed_dot(dot: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dot_graph.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let run = child.wait_with_output().unwrap();
    assert!(run.status.success(), "not valid DOT ({}):\n{dot}", String::from_utf8_lossy(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap()
}

#[test]
fn trace_map_dot_is_valid_graphviz_with_names_escaped() {
    let (_dir, server) = seeded_map();
    // A service whose name, unescaped, would turn into a DOT line break (`\n`); segment names
    // may hold `\` but not `"`, which the unit tests cover.
    let hostile = r"shop\new #1 = a+b@c";
    let segment = json!({"trace_id": format!("1-{:08x}-{:024x}", T0 as u32 + 9, 9), "id": "d000000000000009",
                         "name": hostile, "start_time": T0 + 9.0, "end_time": T0 + 9.5});
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": [segment.to_string()]}));
    assert_eq!(answer["UnprocessedTraceSegments"], json!([]));
    let dot = stdout(&map(&server, &["--dot"]));
    assert!(dot.starts_with("digraph fluoro {\n") && dot.ends_with("}\n"), "{dot}");
    let graph = parsed_dot(&dot);
    assert_eq!(graph["type"], "digraph");
    let answer: Value = serde_json::from_str(&stdout(&map(&server, &["--json"]))).unwrap();
    let nodes = answer["Nodes"].as_array().unwrap();
    assert_eq!(graph["nodes"].as_object().unwrap().len(), nodes.len(), "{dot}");
    for node in nodes {
        let label = graph["nodes"][format!("n{}", node["Id"])].as_str().unwrap();
        let name = node["Name"].as_str().unwrap();
        assert!(label.starts_with(&format!("{name}\\n{}", node["Type"].as_str().unwrap())), "{label:?} for {name:?}");
    }
    assert!(nodes.iter().any(|node| node["Name"] == hostile), "{answer}");
    let mut edges: Vec<Value> = graph["edges"].as_array().unwrap().clone();
    edges.sort_by_key(|edge| edge.to_string());
    let mut expected: Vec<Value> = answer["Edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            let label = format!("{:.1}/min", edge["RequestsPerMinute"].as_f64().unwrap());
            json!([format!("n{}", edge["From"]), format!("n{}", edge["To"]), label])
        })
        .collect();
    expected.sort_by_key(|edge| edge.to_string());
    assert_eq!(edges, expected, "{dot}");
}
