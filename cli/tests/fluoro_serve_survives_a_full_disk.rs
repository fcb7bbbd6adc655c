//! `fluoro serve` whose data directory sits on a full filesystem keeps running and says so:
//! acknowledged writes are refused naming the disk (PutTraceSegments and OTLP HTTP traces and
//! logs with 503, OTLP gRPC with `UNAVAILABLE`), UDP documents are counted as `dropped{reason="disk_full"}`, queries go on answering,
//! and once space is freed writes are taken again and the flush that waited happens, without a
//! restart. Every trace acknowledged before, during and after is read back, once.
//!
//! The filesystem is real: a 4 MiB tmpfs mounted in a mount namespace of the server's own
//! (`unshare -m` as root, `unshare -rm` with a user namespace otherwise), reached from here
//! through `/proc/PID/root`. The test fills it with a file and deletes the file.

use std::collections::HashSet;
use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::server::FluoroServer;

const DOCUMENTS_PER_REQUEST: u32 = 20;
const DISK_SIZE: &str = "4m";
/// How long the server may take to notice that space was freed (it probes every flush tick).
const RECOVERY_DEADLINE: Duration = Duration::from_secs(10);

fn trace_id(n: u32) -> String {
    format!("1-5759e988-{n:024x}")
}

fn document(n: u32) -> Value {
    json!({"name": "web", "id": format!("{:016x}", u64::from(n) + 1), "trace_id": trace_id(n),
           "start_time": 1_465_509_000.0 + f64::from(n % 1000) / 1000.0, "end_time": 1_465_509_001.5,
           "http": {"request": {"method": "GET", "url": "http://web/pets"}, "response": {"status": 200}},
           "subsegments": [{"name": "db", "id": format!("{:016x}", u64::from(n) + 0x1_0000_0000),
                            "start_time": 1_465_509_000.1, "end_time": 1_465_509_000.2, "namespace": "remote"}]})
}

/// `fluoro serve` on a fresh tmpfs of [`DISK_SIZE`], mounted at `mount` in its own namespace.
fn serve_on_small_disk(mount: &Path, config: &Path) -> FluoroServer {
    let unshare = Command::new("unshare").arg("--version").output();
    assert!(
        unshare.is_ok_and(|output| output.status.success()),
        "this test needs `unshare` (util-linux) to mount a small tmpfs in a mount namespace"
    );
    // Root needs no user namespace to mount (and some machines allow none).
    let namespaces = if running_as_root() { "-m" } else { "-rm" };
    let script =
        format!(r#"mount -t tmpfs -o size={DISK_SIZE},mode=0700 tmpfs '{}' && exec "$0" "$@""#, mount.display());
    let args = [std::ffi::OsStr::new("--config"), config.as_os_str()];
    FluoroServer::start_wrapped(&["unshare", namespaces, "sh", "-c", &script], mount, &args)
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}

/// A path on the server's tmpfs, as this process reaches it: through the server's root.
fn on_server_disk(server: &FluoroServer, mount: &Path, relative: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{}", server.pid(), mount.display())).join(relative)
}

/// Writes `path` until the filesystem has no room left; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    // Large writes first, then single pages, so that no whole page is left free.
    for chunk in [64 * 1024, 4096, 1] {
        loop {
            match file.write(&vec![0xF1; chunk]) {
                Ok(0) => break,
                Ok(bytes) => written += bytes as u64,
                Err(error) if error.raw_os_error() == Some(28) => break,
                Err(error) => panic!("filling {}: {error}", path.display()),
            }
        }
    }
    written
}

struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    fn new() -> Client {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Client { http: reqwest::Client::new(), runtime }
    }

    fn post(&self, url: &str, body: &Value) -> (StatusCode, Value) {
        self.runtime.block_on(async {
            let response = self.http.post(url).json(body).send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
    }

    /// PutTraceSegments of traces `first..first + DOCUMENTS_PER_REQUEST`.
    fn put_traces(&self, server: &FluoroServer, first: u32) -> (StatusCode, Value) {
        let documents: Vec<String> = (first..first + DOCUMENTS_PER_REQUEST).map(|n| document(n).to_string()).collect();
        let (status, answer) = self.post(&server.url("/TraceSegments"), &json!({"TraceSegmentDocuments": documents}));
        if status == StatusCode::OK {
            assert_eq!(answer["UnprocessedTraceSegments"], json!([]), "{answer}");
        }
        (status, answer)
    }

    fn metrics(&self, server: &FluoroServer) -> String {
        self.runtime
            .block_on(async { self.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap() })
    }

    /// The trace numbers BatchGetTraces finds; each trace must hold its one segment once.
    fn found(&self, server: &FluoroServer, numbers: &[u32]) -> HashSet<u32> {
        let mut found = HashSet::new();
        for chunk in numbers.chunks(100) {
            let ids: Vec<String> = chunk.iter().map(|n| trace_id(*n)).collect();
            let (status, answer) = self.post(&server.url("/Traces"), &json!({"TraceIds": ids}));
            assert_eq!(status, StatusCode::OK, "{answer}");
            for trace in answer["Traces"].as_array().unwrap() {
                assert_eq!(trace["Segments"].as_array().unwrap().len(), 1, "one segment, once: {trace}");
                let id = trace["Id"].as_str().unwrap();
                found.extend(chunk.iter().copied().filter(|n| trace_id(*n) == id));
            }
        }
        found
    }
}

fn otlp_trace(trace_hex: &str) -> Value {
    json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-web"}}]},
        "scopeSpans": [{"spans": [{"traceId": trace_hex, "spanId": "00f067aa0ba902b7", "name": "GET /pets", "kind": 2,
            "startTimeUnixNano": "1465509000000000000", "endTimeUnixNano": "1465509000500000000"}]}]}]})
}

/// One span exported over OTLP gRPC by a real client (grpcio); the status name and message.
fn export_over_grpc(server: &FluoroServer, trace_hex: &str) -> (String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_grpc_export.py");
    let address = server.addresses["otlp-grpc"].to_string();
    let run = Command::new("python3").arg(script).args([&address, trace_hex]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let answer: Value = serde_json::from_slice(&run.stdout).unwrap();
    (answer["code"].as_str().unwrap().to_owned(), answer["details"].as_str().unwrap().to_owned())
}

fn otlp_log(line: &str) -> Value {
    json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-web"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1465509000000000000", "severityText": "INFO",
            "body": {"stringValue": line}}]}]}]})
}

/// `name{labels} value` of a Prometheus text, 0 when absent.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |value| value.parse().unwrap())
}

fn block_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|ext| ext == "parquet"))
        .count()
}

fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "{what} within {deadline:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

#[test]
fn a_full_disk_refuses_writes_with_503_keeps_answering_and_recovers_once_space_is_freed() {
    let base = tempfile::tempdir().unwrap();
    let mount = base.path().join("disk");
    std::fs::create_dir(&mount).unwrap();
    let config = base.path().join("fluoro.toml");
    // Small, frequent flushes: one is due while the disk is full.
    std::fs::write(&config, "[store]\nflush_rows = 100\nflush_age_seconds = 1\n").unwrap();
    let server = serve_on_small_disk(&mount, &config);
    let client = Client::new();
    let otlp_traces = format!("http://{}/v1/traces", server.addresses["otlp-http"]);
    let otlp_logs = format!("http://{}/v1/logs", server.addresses["otlp-http"]);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send_udp = |n: u32| {
        let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{}", document(n));
        udp.send_to(datagram.as_bytes(), server.addresses["udp"]).unwrap();
    };

    // Before: everything is taken.
    let mut acknowledged: Vec<u32> = Vec::new();
    let mut next = 0;
    for _ in 0..10 {
        assert_eq!(client.put_traces(&server, next).0, StatusCode::OK);
        acknowledged.extend(next..next + DOCUMENTS_PER_REQUEST);
        next += DOCUMENTS_PER_REQUEST;
    }
    assert_eq!(client.post(&otlp_traces, &otlp_trace("5759e988bd862e3fe1be46a994272793")).0, StatusCode::OK);
    assert_eq!(client.post(&otlp_logs, &otlp_log("before the disk filled")).0, StatusCode::OK);
    let blocks_dir = on_server_disk(&server, &mount, "store/blocks");
    wait_for("a first block", Duration::from_secs(10), || block_count(&blocks_dir) > 0);

    // Full: the first write that does not fit is refused, and every one after it.
    let filler = on_server_disk(&server, &mount, "filler");
    let filled = fill(&filler);
    let mut refusal = None;
    for _ in 0..200 {
        let (status, answer) = client.put_traces(&server, next);
        if status == StatusCode::OK {
            // It fit in a page the log had already: acknowledged, so it must survive.
            acknowledged.extend(next..next + DOCUMENTS_PER_REQUEST);
        }
        next += DOCUMENTS_PER_REQUEST;
        if status != StatusCode::OK {
            refusal = Some((status, answer));
            break;
        }
    }
    let (status, answer) = refusal.expect("a write is refused once the disk is full");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["__type"], "ServiceUnavailable", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(&format!("the disk holding {}", mount.join("store").display())), "{message}");
    assert!(message.contains("is full") && message.contains("No space left on device"), "{message}");
    let blocks_while_full = block_count(&blocks_dir);
    // From here on writes are refused before they reach the log or recent data. (The batch
    // refused above may still be read: it entered recent data before the log refused it.)
    let refused_at = next;
    for _ in 0..5 {
        assert_eq!(client.put_traces(&server, next).0, StatusCode::SERVICE_UNAVAILABLE);
        next += DOCUMENTS_PER_REQUEST;
    }
    let (status, answer) = client.post(&otlp_traces, &otlp_trace("5759e988bd862e3fe1be46a994272794"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "OTLP traces: {answer}");
    let (code, details) = export_over_grpc(&server, "5759e988bd862e3fe1be46a994272796");
    assert_eq!(code, "UNAVAILABLE", "OTLP gRPC: {details}");
    assert!(details.contains("is full"), "{details}");
    let (status, answer) = client.post(&otlp_logs, &otlp_log("while the disk is full"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "OTLP logs: {answer}");
    let udp_while_full = 50;
    for n in next..next + udp_while_full {
        send_udp(n);
    }
    next += udp_while_full;
    let dropped_udp = r#"fluoro_dropped_total{source="udp",reason="disk_full"}"#;
    wait_for("UDP documents counted as dropped for the full disk", Duration::from_secs(10), || {
        sample(&client.metrics(&server), dropped_udp) == u64::from(udp_while_full)
    });
    let text = client.metrics(&server);
    assert_eq!(sample(&text, "fluoro_store_disk_full"), 1, "{text}");
    let dropped_put = r#"fluoro_dropped_total{source="put_trace_segments",reason="disk_full"}"#;
    assert_eq!(sample(&text, dropped_put), u64::from(6 * DOCUMENTS_PER_REQUEST), "{text}");
    let found = client.found(&server, &acknowledged);
    assert_eq!(found.len(), acknowledged.len(), "queries answer, with everything acknowledged, while the disk is full");
    assert!(client.found(&server, &(refused_at..next).collect::<Vec<_>>()).is_empty(), "nothing refused was kept");
    // A flush is due (by age) all this while; it waits for space.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(block_count(&blocks_dir), blocks_while_full, "no block is written on a full disk");

    // Space again: writes are taken without a restart, and the waiting flush happens.
    std::fs::remove_file(&filler).unwrap();
    let recovery = wait_for("writes accepted again", RECOVERY_DEADLINE, || {
        let accepted = client.put_traces(&server, next).0 == StatusCode::OK;
        if accepted {
            acknowledged.extend(next..next + DOCUMENTS_PER_REQUEST);
        }
        next += DOCUMENTS_PER_REQUEST;
        accepted
    });
    eprintln!(
        "full disk: filler {filled} bytes; refused {} documents over PutTraceSegments and {udp_while_full} over UDP; \
         writes accepted again {} ms after the filler was deleted",
        6 * DOCUMENTS_PER_REQUEST,
        recovery.as_millis()
    );
    assert_eq!(client.post(&otlp_logs, &otlp_log("after space was freed")).0, StatusCode::OK);
    assert_eq!(client.post(&otlp_traces, &otlp_trace("5759e988bd862e3fe1be46a994272795")).0, StatusCode::OK);
    assert_eq!(export_over_grpc(&server, "5759e988bd862e3fe1be46a994272797").0, "OK");
    send_udp(next);
    let accepted_udp = r#"fluoro_accepted_total{source="udp"}"#;
    wait_for("a UDP document accepted", Duration::from_secs(10), || {
        sample(&client.metrics(&server), accepted_udp) == 1
    });
    assert_eq!(sample(&client.metrics(&server), "fluoro_store_disk_full"), 0);
    wait_for("the flush that waited", Duration::from_secs(10), || block_count(&blocks_dir) > blocks_while_full);

    let found = client.found(&server, &acknowledged);
    let missing: Vec<&u32> = acknowledged.iter().filter(|n| !found.contains(n)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged traces lost: {missing:?}", missing.len(), acknowledged.len());
    assert!(client.found(&server, &[next]).len() == 1, "the UDP document after recovery is kept");
    let (status, answer) =
        client.post(&server.url("/Traces"), &json!({"TraceIds": ["1-5759e988-bd862e3fe1be46a994272797"]}));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Traces"].as_array().unwrap().len(), 1, "the span exported over gRPC after recovery: {answer}");
    assert!(server.stop().success(), "a graceful stop once space is back");
}
