//! The X-Ray query operations, each `POST /<Operation>` with a JSON body, answered in the
//! shapes of the X-Ray service model so the AWS CLI and SDKs can read them.

use std::sync::Arc;
use std::time::Duration;

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
    /// `limits.query_seconds`: none in tests that build the routes without limits.
    pub(crate) query_budget: Option<Duration>,
    /// Trace summaries in one GetTraceSummaries page (`limits.summaries_per_page`).
    pub(crate) summaries_per_page: usize,
    /// Trace ids one GetTraceGraph call may name (`limits.trace_graph_ids`).
    pub(crate) trace_graph_ids: usize,
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
    /// How long one query (summaries, graphs, time series, histogram, comparison, metrics) may
    /// run; past it, 400 naming the limit, and the work stops at the store's next check.
    pub query_budget: Duration,
    /// Trace summaries per GetTraceSummaries page (the rest follow with `NextToken`).
    pub summaries_per_page: usize,
    /// Trace ids one GetTraceGraph call may name (400 above it).
    pub trace_graph_ids: usize,
}

/// A query runs 30 s at most by default: API Gateway's own limit, and longer than any query
/// of a day's window measured in BENCHMARKS.md.
pub const DEFAULT_QUERY_SECONDS: u64 = 30;

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            window_seconds: crate::time::MAX_WINDOW_SECONDS,
            query_budget: Duration::from_secs(DEFAULT_QUERY_SECONDS),
            summaries_per_page: fluoro_analyzer::MAX_PAGE_SIZE,
            trace_graph_ids: crate::service_graph::MAX_TRACE_GRAPH_IDS,
        }
    }
}

/// The query and group routes with configured limits.
pub fn api_router_with_limits(store: Arc<Store>, groups: Arc<Groups>, limits: QueryLimits) -> Router {
    let state = QueryState {
        store,
        groups,
        max_window_seconds: limits.window_seconds,
        query_budget: Some(limits.query_budget),
        summaries_per_page: limits.summaries_per_page,
        trace_graph_ids: limits.trace_graph_ids,
    };
    Router::new()
        .merge(crate::trace_summaries::router(state.clone()))
        .merge(crate::service_graph::router(state.clone()))
        .merge(crate::compare::router(state.clone()))
        .merge(crate::histogram::router(state.clone()))
        .merge(crate::logs::router(state.clone()))
        .merge(crate::metrics::router(state.clone()))
        .merge(crate::groups::router(state.groups))
}
