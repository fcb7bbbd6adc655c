//! The Fluoro columnar store: write-ahead log, queryable recent data, immutable Parquet blocks,
//! trace lookup, retention and recovery. [`Store`] is the whole API: it implements proto's
//! `SpanSink`, `LogSink`, `MetricSink` and `TraceSource` (what the collector writes to and reads
//! from), and gives the analyzer `scan`/`scan_keyed`/`services`/`time_bounds`/`metric_points` and the ui
//! `trace_logs`/`search_logs`/`metric_names`.
//! The durability contract and the formats are in `docs/storage.md`.
//!
//! | module | holds |
//! |---|---|
//! | `store` | [`Store`], [`StoreConfig`]: write path, background flush, reads, recovery, close |
//! | `wal` | the write-ahead log: segments, group commit, replay (resynchronising past damage), checkpoint (format v1) |
//! | `disk` | the disk-full state (writes refused, probed until space returns) and [`StoreHealth`] |
//! | `recent` | recent data in memory, by trace; filling services of independent subsegments |
//! | `block` | Parquet blocks: write, open, trace lookup, scans (format v1) |
//! | `bucket` | span blocks published to an object-store bucket (S3, `file://`); restored on open |
//! | `compaction`, `retention` | merging small blocks; which blocks age or size expires |
//! | `remote` | recent data held by collectors, for a query node: [`RecentSource`], the wire form |
//! | `scan` | a range as one frame, one version per span: [`SharedTraces`] say which traces need the rule |
//! | `keyed_scan`, `text_keys` | [`KeyedScan`]: a range with its text columns as keys ([`text_keys::KeyedText`]), read from blocks' dictionary pages (`block/key_pages.rs`) |
//! | `replace_rule` | the one rule for two versions of a span, on stored spans and on frames |
//! | `columns` | the span column names every reader of a scan uses |
//! | `view_keys` | [`view_keys::ViewKeys`]: a text column's row keys from a cache of its string views (block dictionaries, the service graph) |
//! | `allocator` | the servers' allocator (jemalloc), its settings, and the thread that purges it above the recent-data budget |
//! | `deadline` | a query's time budget, checked as a scan starts and after each block it reads |
//! | `signal` | a signal beside the spans (`SignalRow` rows): its own log (`wal.rs` code), recent rows, blocks, retention, recovery |
//! | `logs` | log records as a signal: log blocks (`logs/block.rs`), trace lookup and search (`logs/query.rs`) |
//! | `metrics` | metric data points as a signal: metric blocks (`metrics/block.rs`), points of a metric and metric names (`metrics/query.rs`) |
//!
//! Write path: `store.rs` `Store::write` → `record.rs` `StoredBatch::log_record` → `Wal::append` →
//! `recent.rs` `RecentSpans::insert`; flush: `store.rs` `Shared::flush` → `block` `write_block`
//! → `wal.rs` `remove_before`. Read path: `store.rs` `Shared::traces` → `recent.rs` +
//! `block` `read_trace_spans` → `replace_rule.rs` `preferred_version`. Scans: `store.rs`
//! `Store::scan` → `block` `scan_block` + `recent.rs` `spans_in` → `scan.rs` `shared_traces`
//! → `scan.rs` `one_version_per_span` (`kept_rows`: the rows whose span key repeats, then
//! their preferences from `ScanSources::read`, built only then) → `replace_rule.rs` `preferred_rows`; keyed:
//! `Store::scan_keyed` → `keyed_scan.rs` (`block` `collect_block_rows` + `read_block_keys`) →
//! `scan.rs` `kept_rows` (preferences from `keyed_scan.rs` `preference_rows`).
//! Logs and metrics: `store/signals.rs` `Store::write_logs`/`write_metrics` → `signal.rs`
//! `SignalStore::write` (`wal.rs` `frame_record`/`Wal::append`, recent rows); flush:
//! `SignalStore::flush` → `SignalRow::write_block` (`logs/block.rs`, `metrics/block.rs`) →
//! `block` `write_other_block`. Reads: `logs/query.rs`, `metrics/query.rs`, both starting from
//! `SignalStore::snapshot`.
//! When a new kind of source or of block write appears, `scan.rs` must still see every trace
//! that can have spans in two sources.
//! When you change the replace rule, change both its forms in `replace_rule.rs`; its test
//! checks they agree.

pub mod allocator;
mod block;
mod bucket;
pub mod columns;
mod compaction;
mod deadline;
mod disk;
mod error;
mod keyed_scan;
mod logs;
mod metrics;
mod recent;
mod record;
mod remote;
mod replace_rule;
mod retention;
mod scan;
mod signal;
mod store;
pub mod text_keys;
pub mod view_keys;
mod wal;

#[doc(hidden)]
pub use block::bench_api;
pub use bucket::{BlocksCacheStats, BucketConfig};
pub use deadline::with_deadline;
pub use disk::StoreHealth;
pub use error::{Result, StoreError};
pub use keyed_scan::KeyedScan;
pub use logs::{LogCursor, LogPage, LogQuery, MAX_LOG_PAGE};
pub use metrics::{MetricName, MetricQuery};
pub use record::StoredSpan;
pub use remote::{decode_spans, encode_spans, RecentSource};
pub use scan::{SharedTraces, SpanScan};
pub use store::{
    LeaseStats, Store, StoreConfig, StoreRole, ABANDONED_AFTER_LEASES, DEFAULT_FLUSH_AGE, DEFAULT_FLUSH_ROWS,
    DEFAULT_LEASE_DURATION, DEFAULT_RECENT_MAX_BYTES, DEFAULT_RETENTION_MAX_AGE, DEFAULT_SYNC_INTERVAL,
    DEFAULT_WAL_QUEUE_RECORDS, MIN_RECENT_MAX_BYTES, OBSOLETE_FILE_GRACE,
};
pub use wal::Damage;
