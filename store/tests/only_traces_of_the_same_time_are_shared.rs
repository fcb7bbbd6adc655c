//! A scan applies the replace rule only to the traces whose spans may have two versions among
//! its sources. A version of a span starts where the span does, so a trace counts as shared
//! with a block only when the block's time range meets its spans' starts: a trace that goes on
//! long after an earlier part of it was flushed is not shared, a resent span is, and either
//! way each span is scanned once.

use std::collections::HashSet;

use fluoro_proto::TraceId;
use fluoro_store::columns::{ID, TRACE_LO};
use fluoro_store::{SharedTraces, Store};

use crate::support::{open, put_numbered};

const HOUR_US: i64 = 3_600_000_000;

fn trace(n: u8) -> TraceId {
    format!("1-5759e988-{n:024x}").parse().unwrap()
}

fn shared(store: &Store) -> SharedTraces {
    store.scan_versions(0, HOUR_US, &[], None).unwrap().shared_traces
}

/// `(trace_lo, id)` of each span an hour's scan returns, sorted, a span returned twice twice.
fn scanned(store: &Store) -> Vec<(u64, u64)> {
    let frame = store.scan(0, HOUR_US, &[TRACE_LO, ID], None).unwrap().collect().unwrap();
    let (lo, id) = (frame.column(TRACE_LO).unwrap().u64().unwrap(), frame.column(ID).unwrap().u64().unwrap());
    let mut rows: Vec<_> = lo.iter().zip(id.iter()).map(|(lo, id)| (lo.unwrap(), id.unwrap())).collect();
    rows.sort_unstable();
    rows
}

#[test]
fn a_trace_is_shared_with_a_block_only_where_their_times_meet() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put_numbered(&store, 1, 1, 10);
    put_numbered(&store, 2, 1, 20);
    // A block of seconds 10 to 20.
    store.flush().unwrap();
    // Trace 1 goes on ten minutes later; trace 2 resends its span; trace 3 is new.
    put_numbered(&store, 1, 2, 600);
    put_numbered(&store, 2, 1, 20);
    put_numbered(&store, 3, 1, 600);
    let only_trace_two = SharedTraces::Only(HashSet::from([trace(2)]));
    assert_eq!(shared(&store), only_trace_two, "recent data against the block");
    let spans = vec![(1, 1), (1, 2), (2, 1), (3, 1)];
    assert_eq!(scanned(&store), spans);
    store.flush().unwrap();
    assert_eq!(shared(&store), only_trace_two, "the second block's footer");
    assert_eq!(scanned(&store), spans);
}
