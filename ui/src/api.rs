//! The X-Ray query operations, each `POST /<Operation>` with a JSON body, answered in the
//! shapes of the X-Ray service model so the AWS CLI and SDKs can read them.

use std::sync::Arc;

use axum::Router;
use fluoro_store::Store;

/// The query routes over one store. The analyzer issue adds the operations.
pub fn api_router(store: Arc<Store>) -> Router {
    let _ = store;
    Router::new()
}
