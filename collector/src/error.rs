//! Errors of the collector.

use fluoro_proto::SinkError;
use thiserror::Error;

pub type Result<T, E = CollectorError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum CollectorError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{0}")]
    InvalidConfig(String),
}
