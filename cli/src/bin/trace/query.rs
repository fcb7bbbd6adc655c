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
    /// How far back from --end (default: now): 30s, 15m, 1h, 1d (at most 24 h). Ignored with
    /// --start.
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
    /// The window in epoch seconds; `--since` counts back from `--end`, or from now.
    pub(crate) fn window(&self) -> anyhow::Result<(Value, Value)> {
        let end = match self.end.as_deref() {
            Some(end) => time_seconds("--end", end)?,
            None => SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64(),
        };
        let start = match self.start.as_deref() {
            Some(start) => time_seconds("--start", start)?,
            None => end - parse_duration(&self.since)?,
        };
        Ok((json!(start), json!(end)))
    }

    /// The URL of an API path on the server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }
}

/// Exit status when nothing matched; 2 is a usage error (clap's, or a request the server
/// rejects), 3 a server that fails or cannot be reached.
pub(crate) const EXIT_NONE_MATCHED: i32 = 1;
pub(crate) const EXIT_USAGE: i32 = 2;
pub(crate) const EXIT_SERVER_ERROR: i32 = 3;

/// The server's successful answer; otherwise the message and exit status 2 (rejected) or 3
/// (failed, or unreachable: then how to start a server).
pub(crate) async fn ask(client: &reqwest::Client, url: &str, request: &Value) -> Value {
    match post_json(client, url, request).await {
        Ok((status, body)) if status.is_success() => body,
        Ok((status, body)) => {
            let message = body["message"].as_str().unwrap_or("the server rejected the request");
            eprintln!("error: {message}");
            std::process::exit(if status.is_client_error() { EXIT_USAGE } else { EXIT_SERVER_ERROR });
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(EXIT_SERVER_ERROR);
        }
    }
}

/// Posts `request` and reads the answer, which is JSON whether the server accepted the
/// request or not (an error answer carries `__type` and `message`).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    request: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = client.post(url).json(request).send().await.with_context(|| {
        format!(
            "cannot reach {url}; start a server with `fluoro serve` (or `fluoro demo`), or name another with --server"
        )
    })?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} answered {status} without JSON"))?;
    Ok((status, body))
}

/// Epoch seconds from epoch seconds or RFC 3339, read as the server reads them.
fn time_seconds(option: &str, text: &str) -> anyhow::Result<f64> {
    fluoro_ui::epoch_seconds(&json!(text))
        .with_context(|| format!("{option} {text:?}: expected epoch seconds or RFC 3339 (2026-01-02T10:00:00Z)"))
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

    fn query(since: &str, start: Option<&str>, end: Option<&str>) -> QueryArgs {
        QueryArgs {
            since: since.into(),
            start: start.map(Into::into),
            end: end.map(Into::into),
            server: DEFAULT_SERVER.into(),
        }
    }

    #[test]
    fn window_edges_are_read_as_epoch_seconds_or_rfc3339() {
        let window = query("1h", Some("2026-01-02T10:00:00Z"), Some("1767351600")).window().unwrap();
        assert_eq!(window, (json!(1_767_348_000.0), json!(1_767_351_600.0)));
        assert_eq!(query("1h", None, None).url("/api/histogram"), "http://127.0.0.1:2020/api/histogram");
        let error = query("1h", Some("yesterday"), None).window().unwrap_err().to_string();
        assert!(error.contains("--start \"yesterday\""), "{error}");
    }

    #[test]
    fn since_counts_back_from_end_when_end_is_given() {
        let window = query("15m", None, Some("2026-01-02T10:00:00Z")).window().unwrap();
        assert_eq!(window, (json!(1_767_348_000.0 - 900.0), json!(1_767_348_000.0)));
    }
}
