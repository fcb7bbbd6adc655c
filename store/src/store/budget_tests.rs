//! Recent data stays within `recent_max_bytes`: a flush starts at half of it, and while a flush
//! is behind, writes beyond the whole budget are refused (acknowledged) or wait for room (best
//! effort) instead of growing the process.

use fluoro_proto::{Durability, SpanBatch};

use super::*;
use crate::block::tests::span;

const NAME_BYTES: usize = 1_000;

fn bounded_config(dir: &Path) -> StoreConfig {
    StoreConfig {
        flush_rows: 1_000_000,
        flush_age: Duration::from_secs(3600),
        recent_max_bytes: MIN_RECENT_MAX_BYTES,
        // The spans date from 1970: no retention.
        retention_max_age: Duration::from_secs(u64::MAX / 4),
        ..StoreConfig::new(dir)
    }
}

/// One span of ~1 KB (its name) in trace `n`, acknowledged.
fn write_large_span(store: &Store, n: u64) -> Result<()> {
    write_large_span_as(store, n, Durability::Acknowledged)
}

fn write_large_span_as(store: &Store, n: u64, durability: Durability) -> Result<()> {
    let mut stored = span(n, 1, 1_000 * n as i64);
    stored.row.name = "n".repeat(NAME_BYTES).into();
    store.write(SpanBatch { documents: Vec::new(), rows: vec![stored.row], durability })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn half_the_budget_starts_a_flush_without_the_row_or_age_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(bounded_config(dir.path())).unwrap();
    let half = (MIN_RECENT_MAX_BYTES / 2) as usize / NAME_BYTES;
    for n in 0..half as u64 {
        write_large_span(&store, n).unwrap();
    }
    wait_until("recent data is flushed", || !store.block_files().is_empty());
    assert!(store.recent_rows() < half, "the flushed spans left recent data");
    let ids: Vec<TraceId> = (0..half as u64).map(|n| span(n, 1, 0).row.trace_id).collect();
    assert_eq!(store.traces(&ids).unwrap().len(), half, "every span is still readable");
}

#[test]
fn acknowledged_writes_beyond_the_budget_are_refused_until_a_flush_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(bounded_config(dir.path())).unwrap();
    // A flush that cannot start, as when the disk is slower than the senders.
    let flush_held = store.shared.flushing.lock();
    let mut written = 0u64;
    let refused = loop {
        match write_large_span(&store, written) {
            Ok(()) => written += 1,
            Err(error) => break error,
        }
        assert!(written < 10 * MIN_RECENT_MAX_BYTES / NAME_BYTES as u64, "no write was ever refused");
    };
    assert!(matches!(refused, StoreError::OverBudget { .. }), "{refused}");
    let whole_budget = MIN_RECENT_MAX_BYTES / NAME_BYTES as u64;
    assert!(written >= whole_budget / 2, "refused after {written} spans, before the budget was used");
    let recent_bytes: usize = store.shared.state.read().recent().map(RecentSpans::bytes).sum();
    assert!(recent_bytes as u64 <= MIN_RECENT_MAX_BYTES + 2 * NAME_BYTES as u64, "{recent_bytes} bytes kept");
    drop(flush_held);
    wait_until("a write is accepted again", || write_large_span(&store, written).is_ok());
    assert!(!store.block_files().is_empty(), "the flush made the room");
    let ids: Vec<TraceId> = (0..=written).map(|n| span(n, 1, 0).row.trace_id).collect();
    assert_eq!(store.traces(&ids).unwrap().len() as u64, written + 1, "every accepted span is kept");
}

#[test]
fn best_effort_writes_beyond_the_budget_wait_for_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(bounded_config(dir.path())).unwrap();
    let flush_held = store.shared.flushing.lock();
    let mut written = 0u64;
    while write_large_span(&store, written).is_ok() {
        written += 1;
    }
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let started = Instant::now();
            (write_large_span_as(&store, written, Durability::BestEffort), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        drop(flush_held);
        let (outcome, waited) = waiting.join().unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
        assert!(waited >= Duration::from_millis(250), "it waited for the flush, {waited:?}");
    });
    assert_eq!(store.traces(&[span(written, 1, 0).row.trace_id]).unwrap().len(), 1, "the waiting span is kept");
}
