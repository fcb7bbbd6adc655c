//! The X-Ray query operations, each `POST /<Operation>` with a JSON body, answered in the
//! shapes of the X-Ray service model so the AWS CLI and SDKs can read them.

use std::sync::Arc;

use axum::Router;
use fluoro_analyzer::Groups;
use fluoro_store::Store;

/// What the query routes read: the spans, and the groups that scope graphs and name filters;
/// and the longest time window one query may cover.
#[derive(Debug, Clone)]
pub(crate) struct QueryState {
    pub(crate) store: Arc<Store>,
    pub(crate) groups: Arc<Groups>,
    pub(crate) max_window_seconds: f64,
}

/// The query and group routes over one store and one group registry, with the default limits.
pub fn api_router(store: Arc<Store>, groups: Arc<Groups>) -> Router {
    api_router_with_limits(store, groups, QueryLimits::default())
}

/// What one query may ask: `[limits]` in the config file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryLimits {
    /// The longest `StartTime`..`EndTime` of the query routes (400 above it).
    pub window_seconds: f64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { window_seconds: crate::time::MAX_WINDOW_SECONDS }
    }
}

/// The query and group routes with configured limits.
pub fn api_router_with_limits(store: Arc<Store>, groups: Arc<Groups>, limits: QueryLimits) -> Router {
    let state = QueryState { store, groups, max_window_seconds: limits.window_seconds };
    Router::new()
        .merge(crate::trace_summaries::router(state.clone()))
        .merge(crate::service_graph::router(state.clone()))
        .merge(crate::compare::router(state.clone()))
        .merge(crate::histogram::router(state.clone()))
        .merge(crate::logs::router(state.clone()))
        .merge(crate::metrics::router(state.clone()))
        .merge(crate::groups::router(state.groups))
}
