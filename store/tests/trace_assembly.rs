//! Segments of one trace arrive out of order, in progress and then completed, as independent
//! subsegments, and resent: the store keeps one right version of each span.

use fluoro_store::columns::{END_US, ID, NAME};
use fluoro_store::Store;
use serde_json::json;

use crate::support::{independent, open, put, read, row, segment, trace_id, TRACE};

const WEB: &str = "0000000000000001";
const ORDERS: &str = "0000000000000002";
const CALL: &str = "000000000000000a";

fn web(end: Option<f64>) -> serde_json::Value {
    segment(TRACE, WEB, "web", end, json!([{"name": "orders", "id": CALL, "start_time": 10.1, "end_time": 10.9}]))
}

fn orders_segment() -> serde_json::Value {
    let mut orders = segment(TRACE, ORDERS, "orders", Some(10.8), json!([]));
    orders["parent_id"] = json!(CALL);
    orders
}

#[test]
fn segments_arriving_out_of_order_make_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[orders_segment()]);
    put(&store, &[web(Some(11.0))]);
    let trace = read(&store, trace_id());
    assert_eq!(trace.rows.len(), 3);
    assert_eq!(trace.entities.len(), 2);
    assert_eq!(row(&trace, ORDERS).parent_id, Some(CALL.parse().unwrap()));
}

#[test]
fn a_completed_segment_replaces_its_in_progress_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[web(None)]);
    assert!(row(&read(&store, trace_id()), WEB).in_progress);
    put(&store, &[web(Some(11.0))]);
    let trace = read(&store, trace_id());
    assert!(!row(&trace, WEB).in_progress);
    assert_eq!(row(&trace, WEB).end_us, Some(11_000_000));
    assert_eq!(trace.entities.len(), 1);
    assert_eq!(trace.entities[0].end_time(), Some(11.0));
}

#[test]
fn a_late_in_progress_version_does_not_undo_the_completed_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[web(Some(11.0))]);
    put(&store, &[web(None)]);
    let trace = read(&store, trace_id());
    assert!(!row(&trace, WEB).in_progress);
    assert_eq!(trace.entities[0].end_time(), Some(11.0));
}

#[test]
fn an_independent_subsegment_sent_before_its_segment_gets_the_segments_service() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[independent("000000000000000c", CALL, Some(10.5))]);
    assert_eq!(row(&read(&store, trace_id()), "000000000000000c").service, None, "parent unknown yet");
    put(&store, &[web(Some(11.0))]);
    let trace = read(&store, trace_id());
    assert_eq!(row(&trace, "000000000000000c").service.as_deref(), Some("web"));
    assert_eq!(trace.entities.len(), 2, "the independent subsegment keeps its own document");
}

#[test]
fn duplicates_resent_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for _ in 0..3 {
        put(&store, &[web(Some(11.0)), orders_segment()]);
    }
    let trace = read(&store, trace_id());
    assert_eq!(trace.rows.len(), 3);
    assert_eq!(trace.entities.len(), 2);
    assert_eq!(store.recent_rows(), 3);
}

fn assert_completed(store: &Store) {
    let trace = read(store, trace_id());
    assert_eq!(trace.rows.len(), 2);
    assert!(!row(&trace, WEB).in_progress, "the completed version wins");
    assert_eq!(trace.entities.len(), 1);
    assert_eq!(trace.entities[0].end_time(), Some(11.0));
}

#[test]
fn the_completed_version_wins_across_a_flush_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[web(None)]);
    store.flush().unwrap();
    put(&store, &[web(Some(11.0))]);
    assert_completed(&store);
    store.flush().unwrap();
    put(&store, &[web(None)]);
    assert_completed(&store);
    store.flush().unwrap();
    assert_eq!(store.block_files().len(), 3);
    assert_completed(&store);
    drop(store);
    assert_completed(&open(dir.path()));
}

/// An SDK's in-progress version and its completed one can reach the collector in the same
/// receive batch: each row keeps the document it was parsed from, so the completed version
/// wins with its own document, in recent data, after a restart and from a block.
#[test]
fn both_versions_in_one_batch_each_keep_their_own_document() {
    for versions in [[web(None), web(Some(11.0))], [web(Some(11.0)), web(None)]] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        put(&store, &versions);
        assert_completed(&store);
        drop(store);
        let store = open(dir.path());
        assert_completed(&store);
        store.flush().unwrap();
        assert_completed(&store);
    }
}

#[test]
fn an_independent_subsegment_flushed_before_its_segment_gets_the_service_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[independent("000000000000000c", CALL, Some(10.5))]);
    store.flush().unwrap();
    put(&store, &[web(Some(11.0))]);
    assert_eq!(row(&read(&store, trace_id()), "000000000000000c").service.as_deref(), Some("web"));
}

#[test]
fn services_and_time_bounds_cover_recent_data_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[orders_segment()]);
    store.flush().unwrap();
    put(&store, &[web(Some(11.0))]);
    assert_eq!(store.services(), vec!["orders".to_owned(), "web".to_owned()]);
    assert_eq!(store.time_bounds(), Some((10_000_000, 11_000_000)));
}

/// The Node SDK's `"line": null`, its key order and an integer-valued time come back as sent
/// from recent data, after a restart (the write-ahead log) and from a Parquet block.
#[test]
fn a_document_reads_back_as_sent_from_the_log_and_from_a_block() {
    let sent = r#"{"id":"0000000000000001","name":"web","start_time":10,"trace_id":"1-5759e988-bd862e3fe1be46a994272793","end_time":11,"cause":{"exceptions":[{"message":"boom","stack":[{"path":"node:internal/timers","line":null}]}]},"metadata":{"n":1.50}}"#;
    let dir = tempfile::tempdir().unwrap();
    let mut batch = fluoro_proto::SpanBatch::new(fluoro_proto::Durability::Acknowledged);
    batch.push_document(fluoro_proto::parse_document(sent.as_bytes()).unwrap(), Some(&sent.into()));
    let store = open(dir.path());
    fluoro_proto::SpanSink::write(&store, batch).unwrap();
    assert_eq!(read(&store, trace_id()).entities[0].to_json(), sent, "from recent data");
    drop(store);
    let store = open(dir.path());
    assert_eq!(read(&store, trace_id()).entities[0].to_json(), sent, "from the write-ahead log");
    store.flush().unwrap();
    assert_eq!(read(&store, trace_id()).entities[0].to_json(), sent, "from a block");
}

/// The web segment's rows in a plain and a keyed scan of every span, reading `end_us` but
/// neither `in_progress` nor `sequence`: the scans read what chooses between versions only
/// when two versions meet (`scan.rs`). Each row is (end, name).
fn scanned_web_rows(store: &Store) -> [Vec<(Option<i64>, Option<String>)>; 2] {
    let web_id = u64::from_str_radix(WEB, 16).unwrap();
    let columns = [ID, END_US];
    let plain = store.scan(i64::MIN, i64::MAX, &[ID, END_US, NAME], None).unwrap().collect().unwrap();
    let keyed = store.scan_keyed(i64::MIN, i64::MAX, &columns, &[NAME]).unwrap();
    let web_rows = |ids: &polars::prelude::UInt64Chunked,
                    row_value: &dyn Fn(usize) -> (Option<i64>, Option<String>)| {
        (0..ids.len()).filter(|row| ids.get(*row) == Some(web_id)).map(row_value).collect::<Vec<_>>()
    };
    let (plain_ends, plain_names) =
        (plain.column(END_US).unwrap().i64().unwrap(), plain.column(NAME).unwrap().str().unwrap());
    let keyed_ends = keyed.spans.column(END_US).unwrap().i64().unwrap();
    [
        web_rows(plain.column(ID).unwrap().u64().unwrap(), &|row| {
            (plain_ends.get(row), plain_names.get(row).map(str::to_owned))
        }),
        web_rows(keyed.spans.column(ID).unwrap().u64().unwrap(), &|row| {
            (keyed_ends.get(row), keyed.texts[0].get(row).map(str::to_owned))
        }),
    ]
}

#[test]
fn scans_that_do_not_read_the_sequence_keep_the_completed_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let completed = vec![(Some(11_000_000), Some("web".to_owned()))];
    put(&store, &[web(None)]);
    store.flush().unwrap();
    put(&store, &[web(Some(11.0))]);
    assert_eq!(scanned_web_rows(&store), [completed.clone(), completed.clone()], "block and recent data");
    store.flush().unwrap();
    put(&store, &[web(None)]);
    assert_eq!(scanned_web_rows(&store), [completed.clone(), completed.clone()], "two blocks, a late resend");
    store.flush().unwrap();
    assert_eq!(scanned_web_rows(&store), [completed.clone(), completed], "three blocks");
}
