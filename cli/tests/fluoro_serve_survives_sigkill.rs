//! `fluoro serve` killed with SIGKILL in the middle of a sustained PutTraceSegments ingest loses
//! nothing it acknowledged, and leaves no unreadable block behind; killed again and again while
//! it flushes and compacts, it still loses nothing and returns no span twice.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::FluoroServer;

const DOCUMENTS_PER_REQUEST: u32 = 20;
/// Acknowledged traces before the kill: enough for several flushes (two rows per trace,
/// `flush_rows = 1000`), few enough that reading them all back stays quick in a debug build.
const TRACES_BEFORE_KILL: usize = 3_000;

fn trace_id(n: u32) -> String {
    format!("1-5759e988-{n:024x}")
}

fn document(n: u32) -> String {
    json!({"name": "web", "id": format!("{:016x}", u64::from(n) + 1), "trace_id": trace_id(n),
           "start_time": 1_465_509_000.0 + f64::from(n % 1000) / 1000.0, "end_time": 1_465_509_001.5,
           "http": {"request": {"method": "GET", "url": "http://web/pets"}, "response": {"status": 200}},
           "subsegments": [{"name": "db", "id": format!("{:016x}", u64::from(n) + 0x1_0000_0000),
                            "start_time": 1_465_509_000.1, "end_time": 1_465_509_000.2, "namespace": "remote"}]})
    .to_string()
}

/// Sends batches of new traces until told to stop or the server goes away; returns the trace
/// numbers the server acknowledged (200 and not listed as unprocessed).
fn ingest(url: String, stop: Arc<AtomicBool>, acknowledged: Arc<Mutex<Vec<u32>>>) {
    ingest_from(0, Duration::ZERO, url, stop, acknowledged);
}

/// [`ingest`] from trace number `first` on, pausing `pause` after each batch.
fn ingest_from(first: u32, pause: Duration, url: String, stop: Arc<AtomicBool>, acknowledged: Arc<Mutex<Vec<u32>>>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut next = first;
        while !stop.load(Ordering::SeqCst) {
            let numbers: Vec<u32> = (next..next + DOCUMENTS_PER_REQUEST).collect();
            next += DOCUMENTS_PER_REQUEST;
            let body = json!({"TraceSegmentDocuments": numbers.iter().map(|n| document(*n)).collect::<Vec<_>>()});
            let Ok(response) = client.post(&url).json(&body).send().await else { return };
            if !response.status().is_success() {
                return;
            }
            let Ok(answer) = response.json::<Value>().await else { return };
            assert_eq!(answer["UnprocessedTraceSegments"], json!([]), "{answer}");
            acknowledged.lock().unwrap().extend(numbers);
            tokio::time::sleep(pause).await;
        }
    });
}

/// The trace numbers BatchGetTraces finds, with every segment's document intact.
fn found_traces(server: &FluoroServer, numbers: &[u32]) -> HashSet<u32> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let mut found = HashSet::new();
    for chunk in numbers.chunks(100) {
        let ids: Vec<String> = chunk.iter().map(|n| trace_id(*n)).collect();
        let answer: Value = runtime.block_on(async {
            let response = client.post(server.url("/Traces")).json(&json!({"TraceIds": ids})).send().await.unwrap();
            response.json().await.unwrap()
        });
        for trace in answer["Traces"].as_array().unwrap() {
            let segments = trace["Segments"].as_array().unwrap();
            assert_eq!(segments.len(), 1, "each trace's one segment, once: {trace}");
            let segment = &segments[0];
            let document: Value = serde_json::from_str(segment["Document"].as_str().unwrap()).unwrap();
            assert_eq!(document["subsegments"][0]["name"], "db", "the whole document came back");
            let id = trace["Id"].as_str().unwrap();
            found.extend(chunk.iter().copied().filter(|n| trace_id(*n) == id));
        }
    }
    found
}

/// Every block opens with a plain Parquet reader and holds rows.
fn assert_blocks_readable(blocks_dir: &Path) -> usize {
    let mut blocks = 0;
    for entry in std::fs::read_dir(blocks_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "parquet") {
            use polars::prelude::SerReader;
            let file = std::fs::File::open(&path).unwrap();
            let frame = polars::prelude::ParquetReader::new(file).finish().unwrap_or_else(|error| {
                panic!("block {} is unreadable: {error}", path.display());
            });
            assert!(frame.height() > 0, "block {} is empty", path.display());
            blocks += 1;
        }
    }
    blocks
}

#[test]
fn every_acknowledged_document_survives_sigkill_mid_ingest() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("fluoro.toml");
    // Small flushes, so that blocks are being written when the kill comes.
    std::fs::write(&config, "[store]\nflush_rows = 1000\nflush_age_seconds = 1\n").unwrap();
    let args = [std::ffi::OsStr::new("--config"), config.as_os_str()];
    let server = FluoroServer::start_with(data_dir.path(), &args);

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (url, stop, acknowledged) = (server.url("/TraceSegments"), stop.clone(), acknowledged.clone());
        std::thread::spawn(move || ingest(url, stop, acknowledged))
    };
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < TRACES_BEFORE_KILL && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill_hard();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 1_000, "the ingest was sustained: {} acknowledged", acknowledged.len());

    let blocks_dir = data_dir.path().join("store/blocks");
    assert!(assert_blocks_readable(&blocks_dir) > 0, "blocks were flushed before the kill");
    let server = FluoroServer::start_with(data_dir.path(), &args);
    let found = found_traces(&server, &acknowledged);
    let missing: Vec<u32> = acknowledged.iter().copied().filter(|n| !found.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged traces lost, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(server.stop().success());
    assert_blocks_readable(&blocks_dir);
    let wal_bytes: u64 = std::fs::read_dir(data_dir.path().join("store/wal"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert_eq!(wal_bytes, 28, "a graceful stop leaves an empty log");
}

/// Kill rounds at varied moments: with blocks of 200 rows and compaction of anything under
/// 2,000, the server is flushing or compacting most of the time, so the kills land in both.
const KILL_ROUNDS: u32 = 5;
/// ~600 traces a second: 6 flushes a second, and few enough traces to read back quickly.
const INGEST_PAUSE: Duration = Duration::from_millis(33);

#[test]
fn repeated_sigkills_during_flushes_and_compactions_lose_nothing_and_return_no_span_twice() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("fluoro.toml");
    std::fs::write(&config, "[store]\nflush_rows = 200\nflush_age_seconds = 1\ncompaction_min_rows = 2000\n").unwrap();
    let args = [std::ffi::OsStr::new("--config"), config.as_os_str()];
    let blocks_dir = data_dir.path().join("store/blocks");
    let mut acknowledged = Vec::new();
    for round in 0..KILL_ROUNDS {
        let server = FluoroServer::start_with(data_dir.path(), &args);
        let stop = Arc::new(AtomicBool::new(false));
        let round_acknowledged = Arc::new(Mutex::new(Vec::new()));
        // Each round sends new trace numbers, so a trace found twice is a span returned twice.
        let first = 1_000_000 * (round + 1);
        let writer = {
            let (url, stop, acked) = (server.url("/TraceSegments"), stop.clone(), round_acknowledged.clone());
            std::thread::spawn(move || ingest_from(first, INGEST_PAUSE, url, stop, acked))
        };
        std::thread::sleep(Duration::from_millis(400 + 200 * u64::from(round)));
        server.kill_hard();
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        acknowledged.extend(round_acknowledged.lock().unwrap().iter().copied());
        assert_blocks_readable(&blocks_dir);
    }
    assert!(acknowledged.len() >= 500, "the ingest was sustained: {} acknowledged", acknowledged.len());
    let server = FluoroServer::start_with(data_dir.path(), &args);
    let found = found_traces(&server, &acknowledged);
    let missing: Vec<u32> = acknowledged.iter().copied().filter(|n| !found.contains(n)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged traces lost", missing.len(), acknowledged.len());
    assert!(server.stop().success());
}
