//! Small blocks are merged into one without losing or duplicating a span; blocks past the
//! retention age or beyond the byte budget are dropped, oldest first, and their files deleted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluoro_proto::TraceId;
use fluoro_store::{Store, StoreConfig};
use serde_json::json;

use crate::support::{config, put, read, row, segment, TRACE};

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A complete segment of a new trace, started `age` ago.
fn trace_started(serial: u32, age: Duration) -> (TraceId, serde_json::Value) {
    let start = now_seconds() - age.as_secs_f64();
    let trace = format!("1-{:08x}-{serial:024x}", start as u32);
    let document = json!({"name": "petsite", "id": format!("{serial:016x}"), "trace_id": trace,
                          "start_time": start, "end_time": start + 0.1});
    (trace.parse().unwrap(), document)
}

fn block_ids(store: &Store) -> Vec<u64> {
    store.block_files().iter().map(|(id, _)| *id).collect()
}

#[test]
fn small_blocks_merge_into_one_keeping_the_preferred_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig { compaction_min_rows: 1000, ..config(dir.path()) }).unwrap();
    // The segment in progress goes to the first block, its completion to the third.
    put(&store, &[segment(TRACE, "70de5b6f19ff9a0a", "petsite", None, json!([]))]);
    store.flush().unwrap();
    let (other_trace, other) = trace_started(7, Duration::from_secs(5));
    put(&store, &[other]);
    store.flush().unwrap();
    put(&store, &[segment(TRACE, "70de5b6f19ff9a0a", "petsite", Some(10.5), json!([]))]);
    store.flush().unwrap();
    assert_eq!(block_ids(&store).len(), 3);

    store.maintain().unwrap();
    let blocks = block_ids(&store);
    assert_eq!(blocks.len(), 1, "three small blocks became one: {blocks:?}");
    let trace = read(&store, TRACE.parse().unwrap());
    assert_eq!(trace.rows.len(), 1, "one version of the segment is left");
    assert!(!row(&trace, "70de5b6f19ff9a0a").in_progress, "the completed version won");
    assert_eq!(read(&store, other_trace).rows.len(), 1);

    store.close().unwrap();
    let files = std::fs::read_dir(dir.path().join("blocks")).unwrap().count();
    assert_eq!(files, 1, "the merged inputs' files are deleted by the time the store closes");
    let reopened = Store::open(config(dir.path())).unwrap();
    assert_eq!(read(&reopened, TRACE.parse().unwrap()).rows.len(), 1);
}

#[test]
fn inputs_left_by_a_crash_after_compaction_are_deleted_on_open() {
    // Inputs' files outlive compaction by a grace period; a crash within it used to leave them
    // beside the merged block, so scans returned every one of their spans twice, tied in rank.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig { compaction_min_rows: 1000, ..config(dir.path()) }).unwrap();
    put(&store, &[segment(TRACE, "70de5b6f19ff9a0a", "petsite", None, json!([]))]);
    store.flush().unwrap();
    put(&store, &[segment(TRACE, "70de5b6f19ff9a0a", "petsite", Some(10.5), json!([]))]);
    store.flush().unwrap();
    store.maintain().unwrap();
    let merged = block_ids(&store);
    assert_eq!(merged.len(), 1);
    drop(store); // a crash: the inputs' files are still there
    assert_eq!(std::fs::read_dir(dir.path().join("blocks")).unwrap().count(), 3);

    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(block_ids(&store), merged, "the merged block replaced its inputs");
    assert_eq!(std::fs::read_dir(dir.path().join("blocks")).unwrap().count(), 1);
    let scan = store.scan_versions(0, i64::MAX, &["id", "in_progress"], None).unwrap();
    assert!(scan.shared_traces.is_none(), "one block, one version per span");
    let spans = scan.spans.collect().unwrap();
    assert_eq!(spans.height(), 1);
    assert_eq!(spans.column("in_progress").unwrap().bool().unwrap().get(0), Some(false));
}

#[test]
fn blocks_past_the_retention_age_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let retention =
        |dir| StoreConfig { retention_max_age: Duration::from_secs(24 * 3600), compaction_min_rows: 0, ..config(dir) };
    let store = Store::open(retention(dir.path())).unwrap();
    let (old_trace, old) = trace_started(1, Duration::from_secs(3 * 24 * 3600));
    put(&store, &[old]);
    store.flush().unwrap();
    let (new_trace, new) = trace_started(2, Duration::from_secs(60));
    put(&store, &[new]);
    store.flush().unwrap();
    store.maintain().unwrap();
    assert_eq!(block_ids(&store).len(), 2, "old data that just arrived is kept for the retention period");
    let old_block = store.block_files()[0].1.clone();
    store.close().unwrap();
    drop(store);

    // Three days later, as far as the old block's file can tell.
    let three_days_ago = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
    std::fs::File::options().write(true).open(&old_block).unwrap().set_modified(three_days_ago).unwrap();
    let store = Store::open(retention(dir.path())).unwrap();
    store.maintain().unwrap();
    assert_eq!(block_ids(&store).len(), 1);
    assert!(store.traces(&[old_trace]).unwrap().is_empty(), "the three-day-old trace is gone");
    assert_eq!(read(&store, new_trace).rows.len(), 1, "the recent trace stays");
    store.close().unwrap();
    assert!(!old_block.exists(), "its file is deleted by the time the store closes");
}

#[test]
fn the_oldest_blocks_go_while_over_the_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig { compaction_min_rows: 0, ..config(dir.path()) }).unwrap();
    let mut traces = Vec::new();
    for serial in 0..3u32 {
        let (trace, document) = trace_started(10 + serial, Duration::from_secs(u64::from(300 - serial * 100)));
        put(&store, &[document]);
        store.flush().unwrap();
        traces.push(trace);
    }
    let sizes: Vec<u64> = store.block_files().iter().map(|(_, path)| std::fs::metadata(path).unwrap().len()).collect();
    drop(store);

    // A budget that holds the two newest blocks but not all three.
    let budget = sizes[1] + sizes[2];
    let store =
        Store::open(StoreConfig { compaction_min_rows: 0, retention_max_bytes: budget, ..config(dir.path()) }).unwrap();
    store.maintain().unwrap();
    assert_eq!(block_ids(&store).len(), 2);
    assert!(store.traces(&traces[..1]).unwrap().is_empty(), "the oldest block went");
    assert_eq!(store.traces(&traces[1..]).unwrap().len(), 2);
}
