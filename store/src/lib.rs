//! The Fluoro columnar store: write-ahead log, queryable recent data, immutable Parquet blocks,
//! trace lookup, retention and recovery. Nothing is implemented yet; the work is tracked in the
//! store issue.
