//! `/api/demo/scenario` forwards to the demo whose control address is in the file it was given
//! (the real demo behind it is exercised by cli's `fluoro_demo_petsite_in_a_browser`): absent
//! file → 404, a running control → its answer, a change that is not JSON → 415 and never
//! forwarded, an address that is not loopback → refused, a stopped demo → 502.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// A control endpoint shaped like the demo's: GET shows, POST echoes the change; counts POSTs.
async fn demo_control(posts: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/scenario",
        get(|| async { axum::Json(json!({"traffic": 1, "billing": "provisioned", "errormode1": "off"})) }).post(
            move |body: String| async move {
                posts.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::from_str::<Value>(&body).unwrap())
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

async fn proxy(address_file: &Path) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = fluoro_ui::demo_scenario_router(address_file.to_owned());
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

async fn get_status(proxy: SocketAddr) -> (u16, Value) {
    let answer = reqwest::get(format!("http://{proxy}/api/demo/scenario")).await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn the_scenario_is_forwarded_to_a_running_demo_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("control.addr");
    let proxy = proxy(&file).await;
    let (status, answer) = get_status(proxy).await;
    assert_eq!(status, 404, "no demo yet: {answer}");

    let posts = Arc::new(AtomicUsize::new(0));
    std::fs::write(&file, demo_control(posts.clone()).await.to_string()).unwrap();
    let (status, answer) = get_status(proxy).await;
    assert_eq!((status, answer["billing"].as_str()), (200, Some("provisioned")), "{answer}");

    let client = reqwest::Client::new();
    let url = format!("http://{proxy}/api/demo/scenario");
    let change = client.post(&url).json(&json!({"errormode1": "on"})).send().await.unwrap();
    assert_eq!(change.status().as_u16(), 200);
    assert_eq!(change.json::<Value>().await.unwrap(), json!({"errormode1": "on"}));
    let form =
        client.post(&url).header("content-type", "text/plain").body(r#"{"errormode1":"on"}"#).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 415, "a cross-site form's content type is refused");
    let too_long = client.post(&url).json(&json!({"traffic": "9".repeat(2000)})).send().await.unwrap();
    assert_eq!(too_long.status().as_u16(), 413);
    assert_eq!(posts.load(Ordering::SeqCst), 1, "only the JSON change reached the demo");

    std::fs::write(&file, "192.0.2.1:80").unwrap();
    let (status, answer) = get_status(proxy).await;
    assert_eq!(status, 502, "a non-loopback address is not dialled: {answer}");
    let stopped = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    std::fs::write(&file, stopped.to_string()).unwrap();
    let (status, answer) = get_status(proxy).await;
    assert_eq!(status, 502, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("does not answer"), "{answer}");
}
