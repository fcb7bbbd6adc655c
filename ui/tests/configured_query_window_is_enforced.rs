//! `limits.query_window_seconds` (`QueryLimits`): every windowed query route refuses a longer
//! window with a 400 naming the limit, over real HTTP. An hour here, below the 24 h default,
//! so the test would fail if the configured value were ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use fluoro_analyzer::Groups;
use fluoro_store::{Store, StoreConfig};
use fluoro_ui::QueryLimits;
use serde_json::{json, Value};

async fn serve(store: Arc<Store>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = QueryLimits { window_seconds: 3600.0, ..QueryLimits::default() };
    let router = fluoro_ui::api_router_with_limits(store, Arc::new(Groups::in_memory()), limits);
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_over_the_configured_length_gets_400_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreConfig::new(dir.path().join("store"))).unwrap());
    let address = serve(store).await;
    let client = reqwest::Client::new();
    let routes: [(&str, Value); 6] = [
        ("/TraceSummaries", json!({})),
        ("/ServiceGraph", json!({})),
        ("/api/histogram", json!({})),
        ("/api/compare", json!({"Selection": "fault"})),
        ("/api/logs/search", json!({})),
        ("/api/metrics/names", json!({})),
    ];
    for (path, fields) in routes {
        for (length, expected) in [(3600, 200), (3601, 400)] {
            let mut body = json!({"StartTime": 1_733_300_000, "EndTime": 1_733_300_000 + length});
            body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
            let response = client.post(format!("http://{address}{path}")).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(status, expected, "{path} {length} s: {answer}");
            if expected == 400 {
                let message = answer["message"].as_str().unwrap();
                let named = "the time window is 3601 s; at most 3600 s per call (limits.query_window_seconds)";
                assert_eq!(message, named, "{path}");
            }
        }
    }
}
