//! What every query route does with a request: read its JSON body, and run the analysis it
//! asks for off the async workers.

use serde::de::DeserializeOwned;

use crate::error::{ApiError, Result};

/// A request body as `T`; an empty body counts as `{}`, which botocore sends for operations
/// without input.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8], operation: &str) -> Result<T> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body)
        .map_err(|error| ApiError::InvalidRequest(format!("request body is not {operation} JSON: {error}")))
}

/// Runs an analysis off the async workers: it reads Parquet and runs polars. `what` names the
/// work in the error when the task itself fails.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> fluoro_analyzer::Result<T> + Send + 'static,
) -> Result<T> {
    let answer = tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("{what} task failed: {error}")))?;
    Ok(answer?)
}
