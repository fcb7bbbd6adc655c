//! `trace tail` against a running `fluoro serve`: a trace sent after tail started is printed
//! as one line (only if it matches the expression; traces already there are not), and Ctrl-C
//! (SIGINT) ends it with exit status 0. With --since it starts with the recent past, --json
//! prints one summary per line and --limit stops it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::server::FluoroServer;

const WAIT: Duration = Duration::from_secs(20);

/// A `checkout` trace starting `seconds_ago`, answering `status` in 0.5 s; its id's epoch is
/// its start, as SDKs make them.
fn recent_trace(number: u32, seconds_ago: f64, status: u32) -> (String, String) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let start = now - seconds_ago;
    let id = format!("1-{:08x}-{:024x}", start as u32, 0xfeed_0000 + number);
    let document = json!({"trace_id": id, "id": format!("{:016x}", 0xbeef_0000u32 + number), "name": "checkout",
        "start_time": start, "end_time": start + 0.5, "fault": status >= 500,
        "http": {"request": {"method": "POST", "url": format!("https://shop.example.com/cart/{number}")},
                 "response": {"status": status}}});
    (id, document.to_string())
}

fn send(server: &FluoroServer, documents: &[String]) {
    let answer = server.post("/TraceSegments", json!({"TraceSegmentDocuments": documents}));
    assert_eq!(answer["UnprocessedTraceSegments"], json!([]));
}

/// The lines a reader yields, on a channel, so that a test can wait for one with a deadline.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

#[test]
fn trace_tail_prints_a_trace_sent_after_it_started_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let (old_id, old) = recent_trace(1, 5.0, 503);
    send(&server, &[old]);

    let mut tail = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["tail", "fault", "--interval", "0.2s", "--endpoint", &server.url("")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(tail.stdout.take().unwrap());
    let stderr = lines_of(tail.stderr.take().unwrap());
    let ready = stderr.recv_timeout(WAIT).expect("tail says it follows");
    assert_eq!(ready, format!("following traces matching \"fault\" at {} (Ctrl-C to stop)", server.url("")));

    let (ok_id, ok) = recent_trace(2, 0.5, 200);
    let (new_id, new) = recent_trace(3, 0.2, 502);
    send(&server, &[ok, new]);
    let line = stdout.recv_timeout(WAIT).expect("tail prints the new fault");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[2..], [&new_id, "0.500s", "502", "fault", "POST", "https://shop.example.com/cart/3", "checkout"]);
    assert_eq!(words[0].len() + words[1].len(), "2026-01-02".len() + "10:00:00".len(), "{line}");
    // Nothing else: the old fault was there before, the new trace did not fault.
    assert!(stdout.recv_timeout(Duration::from_secs(1)).is_err());
    assert!(!line.contains(&old_id) && !line.contains(&ok_id));

    assert!(Command::new("kill").args(["-INT", &tail.id().to_string()]).status().unwrap().success());
    let status = tail.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C is a normal end");
}

#[test]
fn trace_tail_replays_the_recent_past_as_json_and_stops_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(dir.path());
    let (fault_id, fault) = recent_trace(4, 30.0, 500);
    let (_, ok) = recent_trace(5, 20.0, 200);
    send(&server, &[fault, ok]);
    let run = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["tail", "fault", "--since", "1m", "--json", "--limit", "1", "--interval", "0.2s"])
        .env("FLUORO_ENDPOINT", server.url(""))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let printed = String::from_utf8_lossy(&run.stdout);
    let lines: Vec<Value> = printed.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{printed}");
    assert_eq!((&lines[0]["Id"], &lines[0]["HasFault"]), (&json!(fault_id), &json!(true)));

    let bad = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["tail", "fault AND", "--endpoint", &server.url("")])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).ends_with("  fault AND\n           ^\n"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
