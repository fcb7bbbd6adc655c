//! The X-Ray query operations, each `POST /<Operation>` with a JSON body, answered in the
//! shapes of the X-Ray service model so the AWS CLI and SDKs can read them.

use std::sync::Arc;

use axum::Router;
use fluoro_analyzer::Groups;
use fluoro_store::Store;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Result};

/// What the query routes read: the spans, and the groups that scope graphs and name filters.
#[derive(Debug, Clone)]
pub(crate) struct QueryState {
    pub(crate) store: Arc<Store>,
    pub(crate) groups: Arc<Groups>,
}

/// The query and group routes over one store and one group registry.
pub fn api_router(store: Arc<Store>, groups: Arc<Groups>) -> Router {
    let state = QueryState { store, groups };
    Router::new()
        .merge(crate::trace_summaries::router(state.clone()))
        .merge(crate::service_graph::router(state.clone()))
        .merge(crate::compare::router(state.clone()))
        .merge(crate::histogram::router(state.clone()))
        .merge(crate::groups::router(state.groups))
}

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
