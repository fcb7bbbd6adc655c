//! What every query route does with a request: read its JSON body, and run the analysis it
//! asks for off the async workers.

use std::time::{Duration, Instant};

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
///
/// Within `budget` (`limits.query_seconds`): past it the query is answered with an error naming
/// the limit at once, and the work stops at the store's next check (`fluoro_store::with_deadline`:
/// the next block read or scan); an error the work returns after the deadline is that one too.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    budget: Option<Duration>,
    work: impl FnOnce() -> fluoro_analyzer::Result<T> + Send + 'static,
) -> Result<T> {
    let deadline = budget.map(|budget| Instant::now() + budget);
    let task = tokio::task::spawn_blocking(move || fluoro_store::with_deadline(deadline, work));
    let over_budget = || ApiError::QueryTimeout { seconds: budget.unwrap_or_default().as_secs_f64() };
    let joined = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.into(), task).await.map_err(|_| over_budget())?,
        None => task.await,
    };
    let answer = joined.map_err(|error| ApiError::Internal(format!("{what} task failed: {error}")))?;
    match answer {
        Err(_) if deadline.is_some_and(|deadline| Instant::now() >= deadline) => Err(over_budget()),
        answer => Ok(answer?),
    }
}
