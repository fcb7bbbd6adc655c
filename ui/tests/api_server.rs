//! The query API under test: served over real HTTP on a free port, asked over real HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use fluoro_store::Store;
use serde_json::Value;

/// Serves the query API over `store`, with groups kept in memory.
pub(crate) async fn serve(store: Arc<Store>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = fluoro_ui::api_router(store, Arc::new(fluoro_analyzer::Groups::in_memory()));
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// Posts `body` to `path`; returns the status, the `x-amzn-errortype` header that X-Ray
/// clients read the error type from, and the JSON answer.
pub(crate) async fn post(address: SocketAddr, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new().post(format!("http://{address}{path}")).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let error_type = response.headers().get("x-amzn-errortype").map(|value| value.to_str().unwrap().to_owned());
    (status, error_type, response.json().await.unwrap())
}
