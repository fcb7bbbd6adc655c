//! `fluoro daemon` with two `--forward` collectors, all real processes: each trace lands whole
//! on one collector and both get a share; when one collector stops, the sidecar sends its
//! traces to the other and nothing the sidecar took in is lost.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::fluoro_daemon_relays_raw_documents::{get_text, metric, FluoroDaemon};
use crate::server::FluoroServer;

const HEADER: &str = r#"{"format":"json","version":1}"#;
const SEGMENTS_PER_TRACE: usize = 3;

/// `SEGMENTS_PER_TRACE` segment datagrams for each trace: returns the trace ids and datagrams.
fn traces(first: u32, count: u32) -> (Vec<String>, Vec<String>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut trace_ids = Vec::new();
    let mut datagrams = Vec::new();
    for trace in first..first + count {
        let trace_id = format!("1-{now:08x}-{trace:024x}");
        for part in 0..SEGMENTS_PER_TRACE {
            let id = format!("{trace:012x}{part:04x}");
            datagrams.push(format!(
                "{HEADER}\n{{\"name\":\"svc-{part}\",\"id\":\"{id}\",\"trace_id\":\"{trace_id}\",\"start_time\":{now}.1,\"end_time\":{now}.2}}"
            ));
        }
        trace_ids.push(trace_id);
    }
    (trace_ids, datagrams)
}

fn send(daemon: &FluoroDaemon, datagrams: &[String]) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in datagrams {
        socket.send_to(datagram.as_bytes(), daemon.udp).unwrap();
        std::thread::sleep(Duration::from_micros(200)); // no burst beyond the receive buffer
    }
}

/// Waits until the collectors acknowledged `expected` documents in all.
fn wait_for_acknowledged(daemon: &FluoroDaemon, expected: u64) {
    let metrics = format!("http://{}/metrics", daemon.http);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = get_text(&metrics);
        let accepted = metric(&text, r#"fluoro_accepted_total{source="forward"}"#);
        if accepted >= expected {
            assert_eq!(accepted, expected, "acknowledged more documents than were sent");
            return;
        }
        assert!(Instant::now() < deadline, "{accepted} of {expected} acknowledged:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Trace id → how many of its segments `server` holds.
fn segments_held(server: &FluoroServer, trace_ids: &[String]) -> HashMap<String, usize> {
    let answer = server.post("/Traces", json!({ "TraceIds": trace_ids }));
    answer["Traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trace| (trace["Id"].as_str().unwrap().to_string(), trace["Segments"].as_array().unwrap().len()))
        .collect()
}

#[test]
fn each_trace_lands_whole_on_one_collector_and_a_stopped_collectors_traces_go_to_the_other() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (FluoroServer::start(dir_a.path()), FluoroServer::start(dir_b.path()));
    let daemon = FluoroDaemon::start_to(&[&a.url(""), &b.url("")]);

    let (first_ids, first) = traces(0, 40);
    send(&daemon, &first);
    wait_for_acknowledged(&daemon, first.len() as u64);
    let (on_a, on_b) = (segments_held(&a, &first_ids), segments_held(&b, &first_ids));
    for trace_id in &first_ids {
        let held = (on_a.get(trace_id).copied().unwrap_or(0), on_b.get(trace_id).copied().unwrap_or(0));
        assert!(
            held == (SEGMENTS_PER_TRACE, 0) || held == (0, SEGMENTS_PER_TRACE),
            "{trace_id} is not whole on one collector: {held:?}"
        );
    }
    assert!(!on_a.is_empty() && !on_b.is_empty(), "both collectors get a share: {} and {}", on_a.len(), on_b.len());

    a.stop();
    let (second_ids, second) = traces(1000, 40);
    send(&daemon, &second);
    wait_for_acknowledged(&daemon, (first.len() + second.len()) as u64);
    let on_b = segments_held(&b, &second_ids);
    assert_eq!(on_b.len(), second_ids.len(), "every trace sent after the stop is on the other collector");
    assert!(on_b.values().all(|&segments| segments == SEGMENTS_PER_TRACE), "{on_b:?}");
}
