//! A query's time budget (`limits.query_seconds`), checked where the store can stop a query
//! between two pieces of work: polars' `collect()` cannot be interrupted from outside, so the
//! budget is checked
//!
//! - when a scan over blocks starts ([`Store::scan`](crate::Store::scan)): a query of several
//!   steps stops at its next scan, and
//! - after each block of a scan is read: the block's frame passes through a check that fails
//!   once the deadline is past, and polars then starts no further block of that scan (its
//!   union of blocks stops at the first error), so a scan over many blocks stops within the
//!   blocks being read at that moment. (Recent data is in memory and bounded; it is not
//!   checked.)
//!
//! Work already running on frames in memory (a group-by over spans already read) finishes.
//! The deadline is the calling thread's ([`with_deadline`]): the query API runs each query on
//! a blocking thread of its own, and the analyzer between it and the store need not pass it.

use std::cell::Cell;
use std::time::Instant;

use polars::prelude::{AllowedOptimizations, LazyFrame, PolarsError};

use crate::error::{Result, StoreError};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `work` with scans on this thread bound by `deadline` (none: unbounded), then restores
/// the previous deadline, even if `work` panics: pool threads run other work afterwards.
pub fn with_deadline<T>(deadline: Option<Instant>, work: impl FnOnce() -> T) -> T {
    let _restore = Restore(DEADLINE.with(|cell| cell.replace(deadline)));
    work()
}

/// Puts the previous deadline back when dropped.
struct Restore(Option<Instant>);

impl Drop for Restore {
    fn drop(&mut self) {
        DEADLINE.with(|cell| cell.set(self.0));
    }
}

/// `frame` (a block's), refused when this thread's deadline is already past, and failing if
/// it is computed past it.
pub(crate) fn checked(frame: LazyFrame) -> Result<LazyFrame> {
    let Some(deadline) = DEADLINE.with(Cell::get) else { return Ok(frame) };
    if Instant::now() >= deadline {
        return Err(StoreError::DeadlinePassed);
    }
    let check = move |spans| {
        if Instant::now() >= deadline {
            return Err(PolarsError::ComputeError(StoreError::DeadlinePassed.to_string().into()));
        }
        Ok(spans)
    };
    // Filters and column choices above the check still reach the block's Parquet scan below it.
    Ok(frame.map(check, AllowedOptimizations::default(), None, Some("query deadline")))
}
