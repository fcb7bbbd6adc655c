//! A query's time budget (`fluoro_store::with_deadline`): a scan over many blocks that runs past
//! its deadline fails soon after it, between blocks, instead of reading them all: polars'
//! `collect()` returns only once the work it started has stopped, so its return is when the
//! CPU is free again.

use std::time::{Duration, Instant};

use fluoro_proto::Durability;
use fluoro_store::{with_deadline, Store, StoreError};
use serde_json::{json, Value};

use crate::support::{batch, config};

fn store_of_blocks(dir: &std::path::Path, blocks: usize, traces_per_block: usize) -> Store {
    let store = Store::open(config(dir)).unwrap();
    for block in 0..blocks {
        let documents: Vec<Value> = (0..traces_per_block)
            .map(|trace| {
                let n = block * traces_per_block + trace;
                let subsegments: Vec<Value> = (1..=4)
                    .map(|s| json!({"id": format!("{:016x}", n * 10 + s), "name": "db", "start_time": 10.1, "end_time": 10.2}))
                    .collect();
                json!({"trace_id": format!("1-00000001-{n:024x}"), "id": format!("{:016x}", n * 10), "name": "pets",
                    "start_time": 10.0 + n as f64 * 0.0001, "end_time": 20.0, "subsegments": subsegments})
            })
            .collect();
        store.write(batch(&documents, Durability::BestEffort)).unwrap();
        store.flush().unwrap();
    }
    store
}

fn scan_all(store: &Store) -> Result<usize, String> {
    let frame = store.scan(0, i64::MAX, &[], None).map_err(|error| error.to_string())?;
    frame.collect().map(|spans| spans.height()).map_err(|error| error.to_string())
}

#[test]
fn a_scan_past_its_deadline_stops_between_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of_blocks(dir.path(), 24, 1_000);
    let started = Instant::now();
    assert_eq!(with_deadline(None, || scan_all(&store)), Ok(24 * 5_000));
    let full = started.elapsed();

    let budget = full / 10;
    let started = Instant::now();
    let error = with_deadline(Some(started + budget), || scan_all(&store)).unwrap_err();
    let stopped_after = started.elapsed();
    assert!(error.contains("the query ran past its time budget (limits.query_seconds)"), "{error}");
    assert!(
        stopped_after < budget + full / 3,
        "stopped {stopped_after:?} after starting, the budget {budget:?}, the whole scan {full:?}"
    );

    let past = Instant::now() - Duration::from_millis(1);
    let refused = with_deadline(Some(past), || store.scan(0, i64::MAX, &[], None).map(drop));
    assert!(matches!(refused, Err(StoreError::DeadlinePassed)), "a scan is not started past the deadline");
    assert_eq!(with_deadline(None, || scan_all(&store)), Ok(24 * 5_000), "the next query is not bound by it");
    let panicked = std::panic::catch_unwind(|| with_deadline(Some(past), || panic!("a query that panics")));
    assert!(panicked.is_err());
    assert_eq!(scan_all(&store), Ok(24 * 5_000), "the thread's next work is not bound by a panicked query's deadline");
}
