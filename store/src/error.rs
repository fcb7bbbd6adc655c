//! Errors of the store. Each names the file or block it concerns, so a log line is enough to
//! find the damage.

use std::path::PathBuf;

use polars::prelude::PolarsError;
use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("write-ahead log {path}: {message}")]
    Wal { path: PathBuf, message: String },
    #[error("cannot encode a write-ahead log record: {0}")]
    Encode(String),
    #[error("the store is closed")]
    Closed,
    #[error("this is a query node: it stores no spans; send them to a collector")]
    ReadOnly,
    #[error("recent data takes {bytes} bytes, its whole budget of {budget} (store.recent_max_bytes); refused until a flush makes room")]
    OverBudget { bytes: u64, budget: u64 },
    #[error("the disk holding {data_dir} is full ({cause}); writes are refused until space is freed")]
    DiskFull { data_dir: PathBuf, cause: String },
    #[error("invalid store configuration: {0}")]
    Config(String),
    #[error("blocks bucket: {0}")]
    Bucket(String),
    #[error("block error: {0}")]
    Block(String),
    #[error("polars error: {0}")]
    Polars(String),
    /// The query's time budget (`limits.query_seconds`, `deadline.rs`) ran out.
    #[error("the query ran past its time budget (limits.query_seconds)")]
    DeadlinePassed,
    #[error("block {path} has format version {version}, newer than this build reads; upgrade Fluoro")]
    BlockVersion { path: PathBuf, version: u32 },
}

/// A polars error as the store's, for `map_err`.
pub(crate) fn polars_error(error: PolarsError) -> StoreError {
    StoreError::Polars(error.to_string())
}

impl StoreError {
    /// An i/o error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), source }
    }
}
