//! Calls between the services: plain HTTP/1.1 on loopback, carrying both trace headers.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::propagation::TraceContext;

/// Long enough for a bunny search (3 s) behind a throttled table's retries.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A downstream answer: status and body text.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

/// One call; `Err` is a transport error (no answer), with its message.
pub(crate) async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    context: Option<TraceContext>,
    json: Option<&Value>,
) -> Result<Answer, String> {
    let mut request = client.request(method, url).timeout(CALL_TIMEOUT);
    if let Some(context) = context {
        for (name, value) in context.headers() {
            request = request.header(name, value);
        }
    }
    if let Some(json) = json {
        request = request.json(json);
    }
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|error| error.to_string())?;
    Ok(Answer { status, body })
}
