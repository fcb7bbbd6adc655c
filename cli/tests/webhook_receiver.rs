//! A real webhook receiver for notification tests: an axum server on its own runtime thread
//! that records every POST to `/hook` (its `x-amz-sns-message-id`, the JSON body, the status
//! it answered) and answers 500 to the first `failures` requests, 200 after.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

pub(crate) type Received = Arc<Mutex<Vec<(String, Value, u16)>>>;

/// The hook's URL and what it received.
pub(crate) fn webhook_receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let state = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let hook = move |headers: HeaderMap, body: String| async move {
                let mut received = state.lock().unwrap();
                let status = if received.len() < failures { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
                let id = headers["x-amz-sns-message-id"].to_str().unwrap().to_owned();
                received.push((id, serde_json::from_str(&body).unwrap(), status.as_u16()));
                status
            };
            let app = axum::Router::new().route("/hook", axum::routing::post(hook));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{address}/hook"), received)
}

/// The `Message` documents delivered (answered 200), in order; waits until `wanted` are there.
pub(crate) fn delivered_messages(received: &Received, wanted: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let delivered: Vec<Value> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, status)| *status == 200)
            .map(|(_, envelope, _)| serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap())
            .collect();
        if delivered.len() >= wanted || Instant::now() >= deadline {
            return delivered;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
