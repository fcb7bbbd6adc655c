//! The X-Ray query operations, each `POST /<Operation>` with a JSON body, answered in the
//! shapes of the X-Ray service model so the AWS CLI and SDKs can read them.

use std::sync::Arc;

use axum::Router;
use fluoro_store::Store;

/// The query routes over one store.
pub fn api_router(store: Arc<Store>) -> Router {
    Router::new()
        .merge(crate::trace_summaries::router(store.clone()))
        .merge(crate::service_graph::router(store.clone()))
        .merge(crate::compare::router(store.clone()))
}
