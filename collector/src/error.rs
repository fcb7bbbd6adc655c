//! Errors of the collector.

use thiserror::Error;

pub type Result<T, E = CollectorError> = std::result::Result<T, E>;

/// A sink could not keep a batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot store spans: {0}")]
pub struct SinkError(pub String);

#[derive(Debug, Error)]
pub enum CollectorError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sink(#[from] SinkError),
}
