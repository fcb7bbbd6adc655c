//! What the subcommands that query a server share: the time window and server options, and one
//! JSON request with its JSON answer.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The server `fluoro serve` listens on by default.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:2020";

/// The options every query takes: which server, and which window of time.
#[derive(Args)]
pub(crate) struct QueryArgs {
    /// How far back from now: 30s, 15m, 1h, 1d (at most 24 h). Ignored with --start.
    #[arg(long, default_value = "1h")]
    since: String,
    /// Window start: epoch seconds or RFC 3339 (2026-01-02T10:00:00Z).
    #[arg(long)]
    start: Option<String>,
    /// Window end (default: now): epoch seconds or RFC 3339.
    #[arg(long)]
    end: Option<String>,
    /// The Fluoro server.
    #[arg(long, default_value = DEFAULT_SERVER)]
    server: String,
}

impl QueryArgs {
    /// The window as the API takes it: RFC 3339 and numbers pass through; `--since` counts
    /// back from now.
    pub(crate) fn window(&self) -> anyhow::Result<(Value, Value)> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
        let end = self.end.as_deref().map_or(json!(now), time_value);
        let start = match self.start.as_deref() {
            Some(start) => time_value(start),
            None => json!(now - parse_duration(&self.since)?),
        };
        Ok((start, end))
    }

    /// The URL of an API path on the server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }
}

/// Posts `request` and reads the answer, which is JSON whether the server accepted the
/// request or not (an error answer carries `__type` and `message`).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    request: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = client.post(url).json(request).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} answered {status} without JSON"))?;
    Ok((status, body))
}

fn time_value(text: &str) -> Value {
    text.parse::<f64>().map_or_else(|_| json!(text), |seconds| json!(seconds))
}

/// `30s`, `15m`, `1h`, `1d`, or plain seconds.
fn parse_duration(text: &str) -> anyhow::Result<f64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let number: f64 = number.parse().with_context(|| format!("--since {text:?}: expected e.g. 30s, 15m, 1h, 1d"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => bail!("--since {text:?}: unknown unit {other:?}; use s, m, h or d"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_count_in_seconds() {
        assert_eq!(parse_duration("15m").unwrap(), 900.0);
        assert_eq!(parse_duration("2").unwrap(), 2.0);
        assert!(parse_duration("1w").is_err());
    }

    #[test]
    fn window_edges_given_as_numbers_or_text_pass_through() {
        let query = QueryArgs {
            since: "1h".into(),
            start: Some("2026-01-02T10:00:00Z".into()),
            end: Some("1767351600".into()),
            server: DEFAULT_SERVER.into(),
        };
        assert_eq!(query.window().unwrap(), (json!("2026-01-02T10:00:00Z"), json!(1_767_351_600.0)));
        assert_eq!(query.url("/api/histogram"), "http://127.0.0.1:2020/api/histogram");
    }
}
