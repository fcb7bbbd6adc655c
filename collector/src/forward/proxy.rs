//! The sidecar's sampling endpoints: every `POST` from the SDKs (`GetSamplingRules`,
//! `SamplingTargets`) goes to the central collector, so one rule set steers every sidecar.
//! With several collectors it goes to the first that answers: the first while it is up, the
//! next ones in order while it is not (unreachable or 5xx), so the SDKs keep their rules
//! and quotas through a collector's restart.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fluoro_proto::{xray_error_body, XRAY_ERROR_TYPE_HEADER};

use crate::sigv4::{sign_request, AwsCredentials};

/// Proxies every `POST` (the SDKs' sampling calls) to the first of `collectors` that answers.
/// With `credentials`, each call is signed with SigV4 (the SDKs send them unsigned to the
/// sidecar, as to the X-Ray daemon, which signs them for the X-Ray API in the same way).
pub fn sampling_proxy_router(collectors: &[String], credentials: Option<AwsCredentials>) -> axum::Router {
    let proxy = Arc::new(SamplingProxy {
        collectors: collectors.iter().map(|url| url.trim_end_matches('/').to_owned()).collect(),
        credentials,
        // Each collector tried gets its share of the SDK's patience.
        client: reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap_or_default(),
    });
    axum::Router::new().fallback(proxy_request).layer(DefaultBodyLimit::max(1024 * 1024)).with_state(proxy)
}

#[derive(Debug)]
struct SamplingProxy {
    collectors: Vec<String>,
    credentials: Option<AwsCredentials>,
    client: reqwest::Client,
}

async fn proxy_request(State(proxy): State<Arc<SamplingProxy>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut last = None;
    for collector in &proxy.collectors {
        let url = format!("{collector}{}", uri.path());
        let signed = sign_request(proxy.client.post(&url), &url, &body, proxy.credentials.as_ref());
        let mut request = signed.body(body.clone());
        if let Some(content_type) = headers.get(axum::http::header::CONTENT_TYPE) {
            request = request.header(axum::http::header::CONTENT_TYPE, content_type.as_bytes());
        }
        let answer = request.send().await;
        let failed = answer.as_ref().map_or(true, |response| response.status().is_server_error());
        last = Some(answer);
        if !failed {
            break;
        }
    }
    match last {
        Some(Ok(response)) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
            let body = response.bytes().await.unwrap_or_default();
            let mut out = (status, body).into_response();
            if let Some(value) = content_type.and_then(|v| axum::http::HeaderValue::from_bytes(&v).ok()) {
                out.headers_mut().insert(axum::http::header::CONTENT_TYPE, value);
            }
            out
        }
        Some(Err(error)) => unavailable(&format!("no collector reachable: {error}")),
        None => unavailable("no collector to ask"),
    }
}

fn unavailable(message: &str) -> Response {
    let error_type = "ServiceUnavailableException";
    let body = xray_error_body(error_type, message);
    (StatusCode::BAD_GATEWAY, [(XRAY_ERROR_TYPE_HEADER, error_type)], axum::Json(body)).into_response()
}
