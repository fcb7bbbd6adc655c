//! The X-Ray query operations, each `POST /<Operation>` with a JSON body, answered in the
//! shapes of the X-Ray service model so the AWS CLI and SDKs can read them.

use std::sync::Arc;

use axum::Router;
use fluoro_analyzer::Groups;
use fluoro_store::Store;

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
        .merge(crate::logs::router(state.clone()))
        .merge(crate::metrics::router(state.clone()))
        .merge(crate::groups::router(state.groups))
}
