//! A scan of `[from, to)` returns exactly the spans starting in it, whether they are in recent
//! data or in blocks. The server's background passes (group metrics, insights) scan one closed
//! minute at a time, mostly older than recent data, so recent data skips a range outside the
//! starts it has held without walking its spans (`RecentSpans::may_start_in`). These tests
//! check that skip never drops a span: a late span into an earlier minute, a span whose newer
//! version moved it to another minute, and spans a flush moved into a block are all found, by
//! every minute's scan, as a plain map of the spans says.

use std::collections::{BTreeMap, BTreeSet};

use fluoro_store::columns::{ID, START_US, TRACE_LO};
use fluoro_store::Store;
use polars::prelude::DataType;
use proptest::prelude::*;

use crate::support::{open, put_numbered};

const MINUTE_US: i64 = 60_000_000;
/// The minutes spans start in; scans also cover the minutes just before and after them.
const MINUTES: i64 = 4;

const TRACES: u8 = 4;
const IDS: u8 = 3;

#[derive(Debug, Clone)]
enum Op {
    /// Segment `id` of trace `trace`, at its start (completed: the latest write is kept).
    Write {
        trace: u8,
        id: u8,
    },
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..TRACES, 1..=IDS).prop_map(|(trace, id)| Op::Write { trace, id }),
        1 => Just(Op::Flush),
    ]
}

/// Each span's start, in seconds into the run. A span keeps its start across its versions
/// here: a version moved to another minute after an older one was flushed is a different case
/// (the block's older version is in the old minute's scan); a move within one generation is
/// in the test after this one.
fn starts() -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::vec(0..(MINUTES as u16 * 60), usize::from(TRACES * IDS))
}

/// The start (µs) of each span, as the latest write put it.
type Model = BTreeMap<(u8, u8), i64>;

/// `(trace_lo, id, start_us)` of every span the scan returns, a span returned twice once more.
fn scanned(store: &Store, from_us: i64, to_us: i64) -> Vec<(u64, u64, i64)> {
    let frame = store.scan(from_us, to_us, &[TRACE_LO, ID, START_US], None).unwrap().collect().unwrap();
    let column = |name: &str| frame.column(name).unwrap().cast(&DataType::UInt64).unwrap();
    let (lo, id) = (column(TRACE_LO), column(ID));
    let start = frame.column(START_US).unwrap().cast(&DataType::Int64).unwrap();
    let (lo, id, start) = (lo.u64().unwrap(), id.u64().unwrap(), start.i64().unwrap());
    let mut rows: Vec<_> =
        (0..frame.height()).map(|at| (lo.get(at).unwrap(), id.get(at).unwrap(), start.get(at).unwrap())).collect();
    rows.sort_unstable();
    rows
}

fn expected(model: &Model, from_us: i64, to_us: i64) -> Vec<(u64, u64, i64)> {
    let mut rows: Vec<_> = model
        .iter()
        .filter(|(_, start)| (from_us..to_us).contains(*start))
        .map(|((trace, id), start)| (u64::from(*trace), u64::from(*id), *start))
        .collect();
    rows.sort_unstable();
    rows
}

/// Every minute's scan, and the minutes around the spans', agree with the model.
fn check_every_minute(store: &Store, model: &Model) {
    for minute in -1..=MINUTES {
        let from_us = minute * MINUTE_US;
        let to_us = from_us + MINUTE_US;
        assert_eq!(scanned(store, from_us, to_us), expected(model, from_us, to_us), "minute {minute}");
    }
    let all = expected(model, i64::MIN, i64::MAX);
    assert_eq!(scanned(store, i64::MIN, i64::MAX), all);
    let spans: BTreeSet<_> = model.keys().collect();
    assert_eq!(all.len(), spans.len(), "one row per span");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn each_minute_scan_returns_exactly_its_spans(starts in starts(), ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Write { trace, id } => {
                    let second = starts[usize::from(trace * IDS + id - 1)];
                    put_numbered(&store, trace, id, second);
                    model.insert((trace, id), (i64::from(second) * 1_000_000) + 250_000);
                }
                Op::Flush => store.flush().unwrap(),
            }
            check_every_minute(&store, &model);
        }
    }
}

/// The background passes' case, spelled out: minute 2's spans arrive, then a late span of
/// minute 0 and a newer version moving a span from minute 2 to minute 3; then a flush moves
/// all of it into a block.
#[test]
fn late_spans_and_moved_versions_are_in_their_minute_before_and_after_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut model = Model::new();
    let mut write_and_model = |trace: u8, id: u8, second: u16| {
        put_numbered(&store, trace, id, second);
        model.insert((trace, id), i64::from(second) * 1_000_000 + 250_000);
    };
    write_and_model(1, 1, 130);
    write_and_model(1, 2, 131);
    write_and_model(2, 1, 5);
    write_and_model(1, 2, 190);
    let model = model;
    assert_eq!(expected(&model, 0, MINUTE_US).len(), 1, "the late span is minute 0's");
    assert_eq!(expected(&model, 3 * MINUTE_US, 4 * MINUTE_US).len(), 1, "the moved span is minute 3's");
    check_every_minute(&store, &model);
    store.flush().unwrap();
    check_every_minute(&store, &model);
}
