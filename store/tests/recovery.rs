//! Recovery: what was acknowledged survives a crash (a drop without `close`), a torn last log
//! record or damage mid-segment is cut out without losing the intact records before or after it
//! (the bytes cut kept in `quarantine/` and counted), and `close` leaves complete Parquet.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fluoro_proto::Durability;
use serde_json::json;

use crate::support::{batch, open, put, read, segment, trace_id, TRACE};

fn trace(n: u32) -> String {
    format!("1-5759e988-{n:024x}")
}

fn put_trace(store: &fluoro_store::Store, n: u32) {
    put(store, &[segment(&trace(n), "0000000000000001", "web", Some(11.0), json!([]))]);
}

fn present(store: &fluoro_store::Store, n: u32) -> bool {
    !store.traces(&[trace(n).parse().unwrap()]).unwrap().is_empty()
}

/// A store dir holding traces `0..count` in its log, left by a drop without `close`.
fn dir_left_with_traces(count: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 0..count {
        put_trace(&store, n);
    }
    drop(store);
    dir
}

fn newest_wal_segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

#[test]
fn acknowledged_writes_survive_a_drop_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 0..50 {
        put_trace(&store, n);
    }
    store.flush().unwrap();
    for n in 50..100 {
        put_trace(&store, n);
    }
    drop(store);
    let store = open(dir.path());
    assert!((0..100).all(|n| present(&store, n)));
    assert_eq!(store.recent_rows(), 50, "only the unflushed half is replayed");
}

#[test]
fn best_effort_writes_are_on_disk_after_the_sync_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let document = segment(TRACE, "0000000000000001", "web", Some(11.0), json!([]));
    store.write(batch(&[document], Durability::BestEffort)).unwrap();
    assert_eq!(read(&store, trace_id()).rows.len(), 1, "readable at once");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let wal = fs::read(newest_wal_segment(dir.path())).unwrap();
    assert!(wal.len() > 28, "the record reached the segment file");
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_rest_kept() {
    for tail in [vec![0xAB; 5], [200u32.to_le_bytes(), 7u32.to_le_bytes()].concat(), {
        // A whole record header with a payload of the right length whose checksum is wrong.
        let mut record = 4u32.to_le_bytes().to_vec();
        record.extend(0u32.to_le_bytes());
        record.extend(b"junk");
        record
    }] {
        let dir = dir_left_with_traces(10);
        let path = newest_wal_segment(dir.path());
        let intact_len = fs::metadata(&path).unwrap().len();
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&tail).unwrap();

        let store = open(dir.path());
        assert!((0..10).all(|n| present(&store, n)), "records before the torn one are kept");
        assert_eq!(fs::metadata(&path).unwrap().len(), intact_len, "the torn tail is truncated");
        assert_eq!(quarantined(dir.path()), vec![tail.clone()], "the cut bytes are kept in quarantine/");
        assert_eq!(store.health().wal_damage.damaged_bytes, tail.len() as u64, "and counted");
        put_trace(&store, 10);
        drop(store);
        let store = open(dir.path());
        assert!((0..11).all(|n| present(&store, n)), "writes after recovery are kept too");
    }
}

#[test]
fn damage_in_the_middle_of_a_segment_keeps_what_precedes_and_follows_and_quarantines_the_damage() {
    let dir = dir_left_with_traces(10);
    let path = newest_wal_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    fs::write(&path, &bytes).unwrap();

    let store = open(dir.path());
    let kept: Vec<u32> = (0..10).filter(|n| present(&store, *n)).collect();
    // Each trace is one record, so the damage costs exactly one, in the middle.
    assert_eq!(kept.len(), 9, "the records before and after the damaged one are replayed: {kept:?}");
    assert!(present(&store, 0) && present(&store, 9), "{kept:?}");
    let cut = quarantined(dir.path());
    assert_eq!(cut.len(), 1, "one damaged stretch kept in quarantine/");
    let damaged = &cut[0];
    let at = bytes.windows(damaged.len()).position(|window| window == damaged.as_slice()).unwrap();
    assert!(at <= middle && middle < at + damaged.len(), "what was cut holds the damaged byte");
    assert!(damaged.len() < bytes.len() / 5, "and no more than its record: {} bytes", damaged.len());
    let health = store.health();
    assert_eq!((health.wal_damage.damaged_records, health.wal_damage.damaged_bytes), (1, damaged.len() as u64));
    let rest = [&bytes[..at], &bytes[at + damaged.len()..]].concat();
    assert_eq!(fs::read(&path).unwrap(), rest, "the segment keeps every intact record, without the damage");
    put_trace(&store, 10);
    drop(store);
    let store = open(dir.path());
    let after: Vec<u32> = (0..11).filter(|n| present(&store, *n)).collect();
    assert_eq!(after, [kept, vec![10]].concat(), "the store goes on writing after recovery");
    assert_eq!(store.health().wal_damage.damaged_records, 0, "the damage is not found twice");
}

/// The contents of every file in the store's `quarantine/`.
fn quarantined(store_dir: &std::path::Path) -> Vec<Vec<u8>> {
    let Ok(entries) = fs::read_dir(store_dir.join("quarantine")) else { return Vec::new() };
    entries.map(|entry| fs::read(entry.unwrap().path()).unwrap()).collect()
}

#[test]
fn a_half_written_block_is_discarded_and_its_data_replayed_from_the_log() {
    let dir = dir_left_with_traces(10);
    fs::write(dir.path().join("blocks/00000000000000000007.parquet.tmp"), b"PAR1 half a block").unwrap();
    let store = open(dir.path());
    assert!((0..10).all(|n| present(&store, n)));
    assert!(!dir.path().join("blocks/00000000000000000007.parquet.tmp").exists());
}

#[test]
fn close_leaves_complete_blocks_and_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 0..20 {
        put_trace(&store, n);
    }
    store.close().unwrap();
    assert!(store.write(batch(&[], Durability::Acknowledged)).is_err(), "a closed store refuses writes");
    drop(store);
    let wal: Vec<_> = fs::read_dir(dir.path().join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    let segments: Vec<_> = wal.iter().filter(|p| p.extension().is_some_and(|e| e == "wal")).collect();
    assert_eq!(segments.len(), 1);
    assert_eq!(fs::metadata(segments[0]).unwrap().len(), 28, "only the segment header");
    let store = open(dir.path());
    assert_eq!(store.recent_rows(), 0);
    assert_eq!(store.block_files().len(), 1);
    assert!((0..20).all(|n| present(&store, n)));
}

#[test]
fn scans_see_recent_data_and_blocks_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 0..5 {
        put_trace(&store, n);
    }
    store.flush().unwrap();
    for n in 5..8 {
        put_trace(&store, n);
    }
    let frame = store.scan(0, i64::MAX, &["service", "start_us"], None).unwrap().collect().unwrap();
    assert_eq!(frame.height(), 8);
    assert_eq!(frame.width(), 2);
    let predicate = polars::prelude::col("name").eq(polars::prelude::lit("nothing"));
    let frame = store.scan(0, i64::MAX, &[], Some(predicate)).unwrap().collect().unwrap();
    assert_eq!(frame.height(), 0);
}

#[test]
fn damage_at_the_start_of_a_large_segment_is_skipped_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // 200 records of 100 traces each: a segment of several MiB behind the damage.
    for first in (0..20_000).step_by(100) {
        let documents: Vec<_> = (first..first + 100)
            .map(|n| segment(&trace(n), "0000000000000001", "web", Some(11.0), json!([])))
            .collect();
        put(&store, &documents);
    }
    drop(store);
    let path = newest_wal_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[28 + 100] ^= 0xFF;
    fs::write(&path, &bytes).unwrap();

    let started = std::time::Instant::now();
    let store = open(dir.path());
    let took = started.elapsed();
    eprintln!("replaying {} bytes past damage at their start took {took:?}", bytes.len());
    assert_eq!(store.health().wal_damage.damaged_records, 1);
    assert!(!present(&store, 0) && present(&store, 100) && present(&store, 19_999));
    assert!(took < std::time::Duration::from_secs(20), "resynchronising took {took:?}");
}

#[test]
fn a_large_torn_last_record_is_cut_off_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put_trace(&store, 0);
    // One record of 4,000 traces (what one large PutTraceSegments request makes), torn in its
    // middle: every offset of its first half is tried as a record start, none is one.
    let documents: Vec<_> =
        (1..4_001).map(|n| segment(&trace(n), "0000000000000001", "web", Some(11.0), json!([]))).collect();
    put(&store, &documents);
    drop(store);
    let path = newest_wal_segment(dir.path());
    let length = fs::metadata(&path).unwrap().len();
    OpenOptions::new().write(true).open(&path).unwrap().set_len(length - length / 2).unwrap();

    let started = std::time::Instant::now();
    let store = open(dir.path());
    let took = started.elapsed();
    eprintln!("cutting a torn record of {} bytes took {took:?}", length / 2);
    assert!(present(&store, 0) && !present(&store, 1));
    assert_eq!(store.health().wal_damage.damaged_records, 1);
    assert!(took < std::time::Duration::from_secs(20), "resynchronising took {took:?}");
}
