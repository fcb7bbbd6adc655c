//! Sustained overload of `fluoro serve`: UDP and OTLP/HTTP senders offer far more than it can
//! take (at least 10× what it accepts) for a while. Its resident memory stays under one bound,
//! `--recent-max-bytes` plus a stated margin; queries keep being answered; what it sheds is
//! counted on `/metrics`; and once the load stops, a new trace is stored and read back.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::fluoro_daemon_relays_raw_documents::{get_text, metric};
use crate::server::FluoroServer;

const RECENT_MAX_BYTES: u64 = 32 * 1024 * 1024;
/// What the process takes beside recent spans: its code and runtime, the datagrams queued
/// between receive and parse, HTTP bodies being read, each thread's allocator arena, and a
/// flush's Parquet encoding of up to half the budget (polars copies the columns). A debug
/// build peaked at 396 to 518 MiB here (docs/operations.md), the most with other tests running
/// beside it, so the margin leaves room.
const MARGIN_BYTES: u64 = 768 * 1024 * 1024;
const LOAD: Duration = Duration::from_secs(20);
const UDP_SENDERS: usize = 3;
const OTLP_SPANS_PER_REQUEST: usize = 200;

#[test]
fn fluoro_serve_holds_its_memory_bound_under_tenfold_overload() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start_with(
        data_dir.path(),
        &[std::ffi::OsStr::new("--recent-max-bytes"), std::ffi::OsStr::new(&RECENT_MAX_BYTES.to_string())],
    );
    let pid = server.pid();
    let idle_rss = rss_bytes(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let offered = Arc::new(AtomicU64::new(0));
    let otlp_refused = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for sender in 0..UDP_SENDERS {
        let (stop, offered, to) = (stop.clone(), offered.clone(), server.addresses["udp"]);
        senders.push(std::thread::spawn(move || send_udp(sender as u64, to, &stop, &offered)));
    }
    let (stop_otlp, refused, otlp) = (stop.clone(), otlp_refused.clone(), server.addresses["otlp-http"]);
    senders.push(std::thread::spawn(move || send_otlp(otlp, &stop_otlp, &refused)));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _entered = runtime.enter();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let started = Instant::now();
    let (mut peak_rss, mut slowest_query, mut queries) = (0u64, Duration::ZERO, 0);
    while started.elapsed() < LOAD {
        for _ in 0..8 {
            peak_rss = peak_rss.max(rss_bytes(pid));
            std::thread::sleep(Duration::from_millis(250));
        }
        let asked = Instant::now();
        let now = unix_seconds();
        let body = json!({"StartTime": now - 10.0, "EndTime": now + 1.0});
        let answer = runtime.block_on(client.post(server.url("/TraceSummaries")).json(&body).send());
        let status = answer.map(|answer| answer.status().as_u16()).unwrap_or(0);
        assert_eq!(status, 200, "a query during the overload is answered");
        slowest_query = slowest_query.max(asked.elapsed());
        queries += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    peak_rss = peak_rss.max(rss_bytes(pid));

    let metrics = get_text(&server.url("/metrics"));
    let udp_accepted = metric(&metrics, "fluoro_accepted_total{source=\"udp\"}");
    let udp_dropped = metric(&metrics, "fluoro_dropped_total{source=\"udp\",reason=\"overload\"}");
    let otlp_accepted = metric(&metrics, "fluoro_accepted_total{source=\"otlp_http\"}");
    let otlp_dropped = metric(&metrics, "fluoro_dropped_total{source=\"otlp_http\",reason=\"sink_error\"}");
    let offered = offered.load(Ordering::Relaxed);
    let otlp_refused = otlp_refused.load(Ordering::Relaxed);
    eprintln!(
        "overload for {:?}: offered {offered} UDP documents, accepted {udp_accepted}, dropped {udp_dropped} \
         (overload); OTLP accepted {otlp_accepted} spans, {otlp_refused} requests refused, {otlp_dropped} spans \
         dropped; RSS idle {} MiB, peak {} MiB (bound {} MiB); {queries} queries, slowest {slowest_query:?}",
        started.elapsed(),
        idle_rss >> 20,
        peak_rss >> 20,
        (RECENT_MAX_BYTES + MARGIN_BYTES) >> 20
    );
    assert!(offered >= 10 * udp_accepted, "not a tenfold overload: {offered} offered, {udp_accepted} accepted");
    assert!(udp_dropped > 0, "the shed datagrams are counted");
    assert!(peak_rss <= RECENT_MAX_BYTES + MARGIN_BYTES, "peak RSS {peak_rss} over the bound");

    // Recovered: a new trace is acknowledged and read back.
    let trace = format!("1-{:08x}-{:024x}", unix_seconds() as u64, 0xfeed_u64);
    let segment = json!({"trace_id": trace, "id": "00000000000feed1", "name": "after", "start_time": unix_seconds(),
        "end_time": unix_seconds() + 0.01})
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = json!({"TraceSegmentDocuments": [segment]});
        let answer = runtime.block_on(client.post(server.url("/TraceSegments")).json(&body).send()).unwrap();
        if answer.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "writes still refused 30 s after the load: {}", answer.status());
        std::thread::sleep(Duration::from_millis(500));
    }
    let traces = server.post("/Traces", json!({"TraceIds": [trace]}));
    assert_eq!(traces["Traces"].as_array().map(Vec::len), Some(1), "{traces}");
}

/// Datagrams as fast as one socket sends them, each a new trace of four spans with some
/// annotations: about 1 KiB.
fn send_udp(sender: u64, to: SocketAddr, stop: &AtomicBool, offered: &AtomicU64) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pad = "x".repeat(400);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let now = unix_seconds();
        let subsegments: Vec<Value> = (1..=3)
            .map(|s| json!({"id": format!("{:016x}", n * 4 + s), "name": "db", "start_time": now, "end_time": now + 0.001}))
            .collect();
        let document = json!({"trace_id": format!("1-{:08x}-{sender:08x}{n:016x}", now as u64), "id": format!("{:016x}", n * 4),
            "name": "overload", "start_time": now, "end_time": now + 0.002, "annotations": {"pad": pad},
            "subsegments": subsegments});
        let datagram = format!("{{\"format\":\"json\",\"version\":1}}\n{document}");
        if socket.send_to(datagram.as_bytes(), to).is_ok() {
            offered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// OTLP/HTTP JSON exports back to back; answers other than 200 (the store over its budget) are
/// counted, not retried.
fn send_otlp(to: SocketAddr, stop: &AtomicBool, refused: &AtomicU64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _entered = runtime.enter();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let now_nanos = (unix_seconds() * 1e9) as u64;
        let spans: Vec<Value> = (0..OTLP_SPANS_PER_REQUEST as u64)
            .map(|s| {
                json!({"traceId": format!("{:016x}{n:016x}", 0xabcd_u64), "spanId": format!("{:016x}", s + 1),
                    "name": "GET /", "kind": 2, "startTimeUnixNano": now_nanos.to_string(),
                    "endTimeUnixNano": (now_nanos + 1_000_000).to_string()})
            })
            .collect();
        let body = json!({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "overload-otlp"}}]}, "scopeSpans": [{"spans": spans}]}]});
        let answer = runtime.block_on(client.post(format!("http://{to}/v1/traces")).json(&body).send());
        if !matches!(answer, Ok(ref answer) if answer.status() == 200) {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

fn unix_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}
