//! Model test: random sequences of writes, flushes (some failing to delete the log segments
//! afterwards), compactions, crashes (drops without `close`), graceful reopens and reads run
//! against the real store and a plain map, which must agree. After every step, a span that a
//! full scan returns more than once must belong to a trace the scan lists as shared: otherwise
//! the analyzer, which deduplicates only those, would count it twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fluoro_proto::TraceId;
use fluoro_store::{SharedTraces, Store};
use polars::prelude::DataType;
use proptest::prelude::*;
use serde_json::json;

use crate::support::{open, put, segment};

#[derive(Debug, Clone)]
enum Op {
    /// Segment `id` of trace `trace`, named `name`, completed or in progress.
    Write {
        trace: u8,
        id: u8,
        name: u8,
        completed: bool,
    },
    Flush,
    /// A flush whose last step, deleting the log segments the block holds, fails.
    FlushFailingToDeleteTheLog,
    /// Retention and compaction: every block here is small, so runs of them are merged.
    Maintain,
    Crash,
    CloseAndReopen,
    Read,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 1u8..4, 0u8..3, any::<bool>())
            .prop_map(|(trace, id, name, completed)| Op::Write { trace, id, name, completed }),
        2 => Just(Op::Flush),
        1 => Just(Op::FlushFailingToDeleteTheLog),
        1 => Just(Op::Maintain),
        1 => Just(Op::Crash),
        1 => Just(Op::CloseAndReopen),
        2 => Just(Op::Read),
    ]
}

fn trace_text(trace: u8) -> String {
    format!("1-5759e988-{trace:024x}")
}

/// The model: per span, the version the replace rule keeps, as (completed, name).
type Model = BTreeMap<(u8, u8), (bool, u8)>;

fn apply(model: &mut Model, trace: u8, id: u8, name: u8, completed: bool) {
    let keep_old = matches!(model.get(&(trace, id)), Some((true, _)) if !completed);
    if !keep_old {
        model.insert((trace, id), (completed, name));
    }
}

fn write(store: &Store, trace: u8, id: u8, name: u8, completed: bool) {
    let end = completed.then_some(11.0);
    put(store, &[segment(&trace_text(trace), &format!("{id:016x}"), &format!("svc{name}"), end, json!([]))]);
}

/// What the store says, in the model's shape.
fn observed(store: &Store) -> Model {
    let ids: Vec<_> = (0..3).map(|trace| trace_text(trace).parse().unwrap()).collect();
    let mut seen = Model::new();
    for trace in store.traces(&ids).unwrap() {
        let trace_number = (0..3).find(|n| trace_text(*n) == trace.id.to_string()).unwrap();
        assert_eq!(trace.rows.len(), trace.entities.len(), "one document per segment row");
        for row in trace.rows {
            let name = row.name.trim_start_matches("svc").parse().unwrap();
            let entity = trace.entities.iter().find(|entity| entity.id() == row.id).unwrap();
            let document: serde_json::Value = serde_json::from_str(&entity.to_json()).unwrap();
            assert_eq!(document["name"], row.name.as_str(), "document and row are the same version");
            seen.insert((trace_number, row.id.as_u64() as u8), (!row.in_progress, name));
        }
    }
    seen
}

/// Distinct spans a full scan returns.
fn scanned_keys(store: &Store) -> BTreeSet<(u64, u64)> {
    let frame = store.scan(i64::MIN, i64::MAX, &["trace_lo", "id"], None).unwrap().collect().unwrap();
    let lo = frame.column("trace_lo").unwrap().cast(&DataType::UInt64).unwrap();
    let id = frame.column("id").unwrap().cast(&DataType::UInt64).unwrap();
    let (lo, id) = (lo.u64().unwrap(), id.u64().unwrap());
    (0..frame.height()).map(|at| (lo.get(at).unwrap(), id.get(at).unwrap())).collect()
}

/// Flushes while the oldest log segment cannot be deleted: a directory stands where it would
/// be, and removing a directory as a file fails even for root.
fn flush_failing_to_delete_the_log(dir: &Path, store: &Store) {
    let stuck = dir.join("wal").join(format!("{:020}.wal", 0));
    std::fs::create_dir(&stuck).unwrap();
    let flushed = store.flush();
    std::fs::remove_dir(&stuck).unwrap();
    flushed.unwrap();
}

/// Every `(trace_hi, trace_lo, id)` that a full scan returns more than once.
fn scanned_twice(store: &Store) -> (BTreeSet<(u64, u64, u64)>, SharedTraces) {
    let scan = store.scan_versions(i64::MIN, i64::MAX, &["trace_hi", "trace_lo", "id"], None).unwrap();
    let frame = scan.spans.collect().unwrap();
    let column = |name: &str| frame.column(name).unwrap().cast(&DataType::UInt64).unwrap();
    let (hi, lo, id) = (column("trace_hi"), column("trace_lo"), column("id"));
    let (hi, lo, id) = (hi.u64().unwrap(), lo.u64().unwrap(), id.u64().unwrap());
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for at in 0..frame.height() {
        let key = (hi.get(at).unwrap(), lo.get(at).unwrap(), id.get(at).unwrap());
        if !seen.insert(key) {
            twice.insert(key);
        }
    }
    (twice, scan.shared_traces)
}

fn assert_duplicates_are_shared(store: &Store) {
    let (twice, shared) = scanned_twice(store);
    let SharedTraces::Only(shared) = shared else { return };
    for (hi, lo, id) in twice {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        let trace = TraceId::from_bytes(bytes);
        assert!(shared.contains(&trace), "span {id:x} of trace {trace} is scanned twice but not listed as shared");
    }
}

fn check(store: &Store, model: &Model) {
    assert_eq!(&observed(store), model);
    let expected: BTreeSet<(u64, u64)> = model.keys().map(|(trace, id)| (u64::from(*trace), u64::from(*id))).collect();
    assert_eq!(scanned_keys(store), expected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_store_agrees_with_a_map_through_flushes_compactions_and_crashes(ops in prop::collection::vec(op(), 1..32)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Write { trace, id, name, completed } => {
                    write(&store, trace, id, name, completed);
                    apply(&mut model, trace, id, name, completed);
                }
                Op::Flush => store.flush().unwrap(),
                Op::FlushFailingToDeleteTheLog => flush_failing_to_delete_the_log(dir.path(), &store),
                Op::Maintain => store.maintain().unwrap(),
                Op::Crash => {
                    drop(store);
                    store = open(dir.path());
                }
                Op::CloseAndReopen => {
                    store.close().unwrap();
                    drop(store);
                    store = open(dir.path());
                }
                Op::Read => check(&store, &model),
            }
            assert_duplicates_are_shared(&store);
        }
        check(&store, &model);
    }
}
