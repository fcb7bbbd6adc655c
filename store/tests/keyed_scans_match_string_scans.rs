//! `Store::scan_keyed` reads text columns as keys from the blocks' pages (and keys recent
//! data's strings). Row for row it must return what `Store::scan` returns: the same rows, in
//! the same order, each text the string the plain scan reads. Checked over a block read
//! whole and cut by the range, recent data beside it, newer versions of spans the replace
//! rule prefers over the block's, and two blocks sharing traces.

use fluoro_store::columns::{AWS_TABLE, ID, KIND, NAME, NAMESPACE, ORIGIN, SERVICE, START_US, TRACE_LO};
use fluoro_store::Store;
use serde_json::{json, Value};

use crate::support::{open, put};

const NUMBERS: [&str; 3] = [TRACE_LO, ID, START_US];
const TEXTS: [&str; 6] = [KIND, SERVICE, NAME, ORIGIN, NAMESPACE, AWS_TABLE];
const SECOND_US: i64 = 1_000_000;

/// Trace `n`'s segment and its two calls; `version` renames the segment's service.
fn trace(n: u32, version: u32) -> Value {
    let start = 1_000.0 + f64::from(n) * 0.5;
    let mut segment = json!({
        "name": format!("service-{}-v{version}", n % 5), "id": format!("{:016x}", u64::from(n) * 10 + 1),
        "trace_id": format!("1-5759e988-{n:024x}"), "start_time": start, "end_time": start + 0.3,
        "subsegments": [
            {"name": "DynamoDB", "id": format!("{:016x}", u64::from(n) * 10 + 2), "namespace": "aws",
             "start_time": start + 0.1, "end_time": start + 0.2, "aws": {"table_name": "pets"}},
            {"name": "payforadoption", "id": format!("{:016x}", u64::from(n) * 10 + 3), "namespace": "remote",
             "start_time": start + 0.2, "end_time": start + 0.25}
        ]
    });
    if n % 3 == 0 {
        segment["origin"] = json!("AWS::EC2::Instance");
    }
    segment
}

fn put_traces(store: &Store, traces: std::ops::Range<u32>, version: u32) {
    let documents: Vec<Value> = traces.map(|n| trace(n, version)).collect();
    for batch in documents.chunks(200) {
        put(store, batch);
    }
}

/// The keyed scan of `[from_us, to_us)` against the plain one, column by column.
fn assert_keyed_scan_matches(store: &Store, from_us: i64, to_us: i64, what: &str) {
    let columns: Vec<&str> = NUMBERS.iter().chain(&TEXTS).copied().collect();
    let plain = store.scan(from_us, to_us, &columns, None).unwrap().collect().unwrap();
    let keyed = store.scan_keyed(from_us, to_us, &NUMBERS, &TEXTS).unwrap();
    assert!(plain.height() > 0, "{what}: the scan has rows");
    assert_eq!(keyed.spans.height(), plain.height(), "{what}: rows");
    for name in NUMBERS {
        let (keyed, plain) = (keyed.spans.column(name).unwrap(), plain.column(name).unwrap());
        assert!(keyed.as_materialized_series().equals_missing(plain.as_materialized_series()), "{what}: {name}");
    }
    for (name, text) in TEXTS.iter().zip(&keyed.texts) {
        let rows: Vec<Option<&str>> = (0..text.keys.len()).map(|row| text.get(row)).collect();
        let strings: Vec<Option<&str>> = plain.column(name).unwrap().str().unwrap().iter().collect();
        assert_eq!(rows, strings, "{what}: {name}");
    }
}

#[test]
fn keyed_scans_return_the_rows_and_texts_of_plain_scans() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put_traces(&store, 0..2_000, 1);
    store.flush().unwrap();
    let (all, cut) = (i64::MIN..i64::MAX, 1_100 * SECOND_US..1_600 * SECOND_US);
    assert_keyed_scan_matches(&store, all.start, all.end, "one block");
    assert_keyed_scan_matches(&store, cut.start, cut.end, "one block, cut");

    // Newer versions of spans in the block, and new traces, in recent data.
    put_traces(&store, 1_500..2_600, 2);
    assert_keyed_scan_matches(&store, all.start, all.end, "a block and recent data");
    assert_keyed_scan_matches(&store, cut.start, cut.end, "a block and recent data, cut");
    let newer = store.scan_keyed(all.start, all.end, &NUMBERS, &TEXTS).unwrap();
    let services: Vec<&str> = newer.texts[1].values.values().iter().map(String::as_str).collect();
    assert!(services.contains(&"service-0-v2"), "the newer versions are scanned: {services:?}");
    assert_eq!(newer.spans.height(), 2_600 * 3, "one version per span");

    store.flush().unwrap();
    assert_keyed_scan_matches(&store, all.start, all.end, "two blocks sharing traces");
    assert_keyed_scan_matches(&store, cut.start, cut.end, "two blocks sharing traces, cut");
}
