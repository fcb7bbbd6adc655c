//! A block write that fails after its file is renamed into place must not leave a block the
//! store does not know: the spans would be flushed or merged again, and after a restart a scan
//! would return them twice without listing their trace as shared (the analyzer would double
//! count them).

use std::collections::{BTreeMap, BTreeSet};

use fluoro_proto::{Durability, SpanBatch};
use polars::prelude::DataType;

use super::*;
use crate::block::fault::{self, Step};
use crate::block::tests::span;
use crate::scan::SharedTraces;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        flush_rows: 1_000_000,
        flush_age: Duration::from_secs(3600),
        // The spans date from 1970: no retention.
        retention_max_age: Duration::from_secs(u64::MAX / 4),
        compaction_min_rows: 1_000,
        ..StoreConfig::new(dir)
    }
}

/// Writes spans `(trace, id)`, acknowledged.
fn write(store: &Store, spans: &[(u64, u64)]) {
    let rows = spans.iter().map(|&(trace, id)| span(trace, id, 1_000 * id as i64).row).collect();
    store.write(SpanBatch { documents: Vec::new(), rows, durability: Durability::Acknowledged }).unwrap();
}

/// Every `(trace_hi, trace_lo, id)` of a full scan with how often it appears.
fn scanned(scan: &SpanScan) -> BTreeMap<(u64, u64, u64), usize> {
    let frame = scan.spans.clone().collect().unwrap();
    let column = |name: &str| frame.column(name).unwrap().cast(&DataType::UInt64).unwrap();
    let (hi, lo, id) = (column("trace_hi"), column("trace_lo"), column("id"));
    let (hi, lo, id) = (hi.u64().unwrap(), lo.u64().unwrap(), id.u64().unwrap());
    let mut counts = BTreeMap::new();
    for at in 0..frame.height() {
        *counts.entry((hi.get(at).unwrap(), lo.get(at).unwrap(), id.get(at).unwrap())).or_default() += 1;
    }
    counts
}

/// After a restart, a full scan deduplicated the way the analyzer does it (only the shared
/// traces) holds each span once: a span seen twice belongs to a listed trace.
fn assert_each_span_once_after_reopen(dir: &Path, expected_spans: usize) {
    let store = Store::open(config(dir)).unwrap();
    let scan = store.scan_versions(i64::MIN, i64::MAX, &["trace_hi", "trace_lo", "id"], None).unwrap();
    let counts = scanned(&scan);
    assert_eq!(counts.len(), expected_spans, "every span is there");
    for (&(hi, lo, id), &count) in &counts {
        let trace = TraceId::from_halves(hi, lo);
        let listed = match &scan.shared_traces {
            SharedTraces::Any => true,
            SharedTraces::Only(traces) => traces.contains(&trace),
        };
        assert!(count == 1 || listed, "span {id:x} of trace {trace} is scanned {count} times but not listed as shared");
    }
}

fn block_file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blocks")).unwrap().count()
}

#[test]
fn a_block_whose_directory_sync_fails_is_kept_and_not_flushed_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    write(&store, &[(1, 1), (1, 2), (2, 1)]);
    fault::arm(Step::SyncAfterRename);
    assert!(store.flush().is_err(), "the caller learns the block is not known durable");
    assert_eq!(store.block_files().len(), 1, "the renamed block is registered");
    assert_eq!(store.recent_rows(), 0, "its spans are not put back to be flushed again");

    write(&store, &[(1, 3), (3, 1)]);
    store.flush().unwrap();
    drop(store);
    assert_eq!(block_file_count(dir.path()), 2);
    assert_each_span_once_after_reopen(dir.path(), 5);
}

#[test]
fn a_crash_before_the_directory_sync_succeeds_recovers_from_the_kept_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    write(&store, &[(1, 1), (2, 1)]);
    fault::arm(Step::SyncAfterRename);
    assert!(store.flush().is_err());
    drop(store);
    // What a crash that undid the rename leaves: the checkpoint names a missing block.
    for entry in std::fs::read_dir(dir.path().join("blocks")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    assert_each_span_once_after_reopen(dir.path(), 2);
}

#[test]
fn a_failed_rename_leaves_no_block_and_the_spans_are_flushed_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    write(&store, &[(1, 1), (2, 1)]);
    fault::arm(Step::Rename);
    assert!(store.flush().is_err());
    assert_eq!(block_file_count(dir.path()), 0, "neither a block nor its tmp file is left");
    assert_eq!(store.recent_rows(), 2, "the spans are back in recent data");

    store.flush().unwrap();
    drop(store);
    assert_each_span_once_after_reopen(dir.path(), 2);
}

#[test]
fn a_failure_to_delete_log_segments_keeps_the_flushed_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    write(&store, &[(1, 1), (2, 1)]);
    // A directory named like the oldest segment cannot be deleted as a file, even by root.
    let stuck = dir.path().join("wal").join(format!("{:020}.wal", 0));
    std::fs::create_dir(&stuck).unwrap();
    store.flush().unwrap();
    std::fs::remove_dir(&stuck).unwrap();
    assert_eq!(store.block_files().len(), 1);
    assert_eq!(store.recent_rows(), 0, "the block is durable: its spans are not flushed again");

    write(&store, &[(1, 2)]);
    store.flush().unwrap();
    drop(store);
    assert_each_span_once_after_reopen(dir.path(), 3);
}

#[test]
fn a_merged_block_whose_directory_sync_fails_replaces_its_inputs_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    write(&store, &[(1, 1), (2, 1)]);
    store.flush().unwrap();
    write(&store, &[(1, 2), (2, 1)]);
    store.flush().unwrap();
    fault::arm(Step::SyncAfterRename);
    store.maintain().unwrap();
    let blocks: BTreeSet<u64> = store.block_files().into_iter().map(|(id, _)| id).collect();
    assert_eq!(blocks, BTreeSet::from([3]), "the merged block is swapped in for its inputs");

    // A second pass has nothing left to merge, so no second merged block names the inputs.
    store.maintain().unwrap();
    assert_eq!(store.block_files().len(), 1);
    drop(store);
    assert_each_span_once_after_reopen(dir.path(), 3);
}
