//! `GET`/`POST /api/demo/scenario`: the running `fluoro demo`'s scenario control, reached
//! through the dashboard's own port so its header can switch traffic, billing mode and
//! `errormode1` (docs/api.md, "Demo scenario").
//!
//! The demo serves its control on a loopback port it picks at start and writes that address to
//! a file in its data dir; the server started by the demo is told the file's path and reads it
//! on every request, because the demo writes it after the server is up (and removes it on
//! stop). A server with no demo answers 404, so the dashboard shows no control.
//!
//! A change must be `Content-Type: application/json`: browsers send that type cross-origin only
//! after a CORS preflight, which this server does not grant, so another site's page cannot
//! switch faults on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// A change is a few short fields.
const MAX_BODY_BYTES: usize = 1024;
/// The demo answers with a few short fields too; anything longer is not the demo.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// A change restarts no process: the demo answers at once, or is stuck.
const DEMO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct DemoControl {
    /// Holds the control endpoint's `host:port` while the demo runs.
    address_file: Arc<PathBuf>,
    http: reqwest::Client,
}

/// The proxy to the demo whose control address is written in `address_file`.
pub fn demo_scenario_router(address_file: PathBuf) -> Router {
    let http = reqwest::Client::builder()
        .timeout(DEMO_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let state = DemoControl { address_file: Arc::new(address_file), http };
    Router::new()
        .route("/api/demo/scenario", get(show).post(change))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn show(State(control): State<DemoControl>) -> Response {
    match control.address().await {
        Ok(address) => forward(control.http.get(scenario_url(address))).await,
        Err(refusal) => refusal,
    }
}

async fn change(State(control): State<DemoControl>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next().is_some_and(|kind| kind.trim() == "application/json"));
    if !is_json {
        return message(StatusCode::UNSUPPORTED_MEDIA_TYPE, "a scenario change must be application/json");
    }
    match control.address().await {
        Ok(address) => {
            let request = control.http.post(scenario_url(address)).header(header::CONTENT_TYPE, "application/json");
            forward(request.body(body)).await
        }
        Err(refusal) => refusal,
    }
}

impl DemoControl {
    /// The demo's control address, or the answer saying why there is none. Only loopback:
    /// the file is ours, but a proxy must not become a way to reach other hosts.
    async fn address(&self) -> Result<SocketAddr, Response> {
        let not_running = || message(StatusCode::NOT_FOUND, "no fluoro demo is running beside this server");
        let text = tokio::fs::read_to_string(self.address_file.as_ref()).await.map_err(|_| not_running())?;
        match text.trim().parse::<SocketAddr>() {
            Ok(address) if address.ip().is_loopback() => Ok(address),
            _ => Err(message(StatusCode::BAD_GATEWAY, "the demo's control address is not a loopback address")),
        }
    }
}

fn scenario_url(address: SocketAddr) -> String {
    format!("http://{address}/scenario")
}

/// The demo's answer as is (its JSON state, or its refusal as text), bounded.
async fn forward(request: reqwest::RequestBuilder) -> Response {
    let unreachable =
        |error: reqwest::Error| message(StatusCode::BAD_GATEWAY, &format!("the demo does not answer: {error}"));
    let mut answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => return unreachable(error),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut body = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_ANSWER_BYTES => body.extend_from_slice(&chunk),
            Ok(Some(_)) => return message(StatusCode::BAD_GATEWAY, "the demo's answer is too long"),
            Ok(None) => break,
            Err(error) => return unreachable(error),
        }
    }
    if status.is_success() {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        message(status, String::from_utf8_lossy(&body).trim())
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}
