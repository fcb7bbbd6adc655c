//! The Fluoro columnar store: write-ahead log, queryable recent data, immutable Parquet blocks,
//! trace lookup, retention and recovery. Work in progress (store issue).

mod record;

pub use record::StoredSpan;
