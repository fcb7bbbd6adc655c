//! The Fluoro columnar store: write-ahead log, queryable recent data, immutable Parquet blocks,
//! trace lookup, retention and recovery. [`Store`] is the whole API: it implements proto's
//! `SpanSink`, `LogSink` and `TraceSource` (what the collector writes to and reads from), and
//! gives the analyzer `scan`/`services`/`time_bounds` and the ui `trace_logs`/`search_logs`.
//! The durability contract and the formats are in `docs/storage.md`.
//!
//! | module | holds |
//! |---|---|
//! | `store` | [`Store`], [`StoreConfig`]: write path, background flush, reads, recovery, close |
//! | `wal` | the write-ahead log: segments, group commit, replay, checkpoint (format v1) |
//! | `recent` | recent data in memory, by trace; filling services of independent subsegments |
//! | `block` | Parquet blocks: write, open, trace lookup, scans (format v1) |
//! | `compaction`, `retention` | merging small blocks; which blocks age or size expires |
//! | `scan` | a range as one frame, one version per span: [`SharedTraces`] say which traces need the rule |
//! | `replace_rule` | the one rule for two versions of a span, on stored spans and on frames |
//! | `columns` | the span column names every reader of a scan uses |
//! | `logs` | log records beside the spans: their own log (`wal.rs` code), recent records, log blocks (`logs/block.rs`), trace lookup and search (`logs/query.rs`) |
//!
//! Write path: `store.rs` `Store::write` → `wal.rs` `encode_record`/`Wal::append` →
//! `recent.rs` `RecentSpans::insert`; flush: `store.rs` `Shared::flush` → `block` `write_block`
//! → `wal.rs` `remove_before`. Read path: `store.rs` `Shared::traces` → `recent.rs` +
//! `block` `read_trace_spans` → `replace_rule.rs` `preferred_version`. Scans: `store.rs`
//! `Store::scan` → `block` `scan_block` + `recent.rs` `spans_in` → `scan.rs` `shared_traces`
//! → `scan.rs` `one_version_per_span` → `replace_rule.rs` `keep_preferred_versions`.
//! Logs: `store.rs` `Store::write_logs` → `logs/mod.rs` `LogStore::write` (`wal.rs`
//! `frame_record`/`Wal::append`, recent records); flush: `LogStore::flush` →
//! `logs/block.rs` `write_log_block` → `block` `write_other_block`. Reads: `logs/query.rs`.
//! When a new kind of source or of block write appears, `scan.rs` must still see every trace
//! that can have spans in two sources.
//! When you change the replace rule, change both its forms in `replace_rule.rs`; its test
//! checks they agree.

mod block;
pub mod columns;
mod compaction;
mod error;
mod logs;
mod recent;
mod record;
mod replace_rule;
mod retention;
mod scan;
mod store;
mod wal;

#[doc(hidden)]
pub use block::bench_api;
pub use error::{Result, StoreError};
pub use logs::{LogCursor, LogPage, LogQuery, MAX_LOG_PAGE};
pub use record::StoredSpan;
pub use scan::{SharedTraces, SpanScan};
pub use store::{
    Store, StoreConfig, DEFAULT_FLUSH_AGE, DEFAULT_FLUSH_ROWS, DEFAULT_RETENTION_MAX_AGE, DEFAULT_SYNC_INTERVAL,
    DEFAULT_WAL_QUEUE_RECORDS, OBSOLETE_FILE_GRACE,
};
