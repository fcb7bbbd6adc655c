//! What the subcommands that talk to a server share: the server ([`EndpointArgs`]), the query
//! options ([`QueryArgs`]: window, group, limit, JSON), one JSON request with its JSON answer,
//! the exit statuses, how a refusal is reported (a filter expression's error with a caret
//! under its column), and how a listing is followed page after page ([`follow_pages`]).

use std::future::Future;
use std::process::exit;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The server `fluoro serve` listens on by default.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:2020";

/// Exit status when nothing matched; 2 is a usage error (clap's, or a request the server
/// rejects), 3 a server that fails or cannot be reached.
pub(crate) const EXIT_NONE_MATCHED: i32 = 1;
pub(crate) const EXIT_USAGE: i32 = 2;
pub(crate) const EXIT_SERVER_ERROR: i32 = 3;

/// The window of a query without --since or --from.
const DEFAULT_SINCE: &str = "1h";

/// Which server: `--endpoint`, else `FLUORO_ENDPOINT`, else the default. A server started with
/// an API token gets it from `FLUORO_API_TOKEN` or the file `FLUORO_API_TOKEN_FILE` names.
#[derive(Args, Clone)]
pub(crate) struct EndpointArgs {
    /// The Fluoro server's HTTP API. A server that asks for a token gets it from
    /// $FLUORO_API_TOKEN, or from the file $FLUORO_API_TOKEN_FILE names.
    #[arg(long, env = "FLUORO_ENDPOINT", default_value = DEFAULT_SERVER, alias = "server", value_name = "URL",
          help_heading = "Server")]
    pub(crate) endpoint: String,
}

impl EndpointArgs {
    /// The URL of an API path on the server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.trim_end_matches('/'))
    }
}

/// The options of the commands that manage something on the server (groups, sampling rules,
/// alarms): JSON or a table, and which server.
#[derive(Args, Clone)]
pub(crate) struct ApiArgs {
    /// Print the server's JSON answer (X-Ray's or CloudWatch's shapes) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) endpoint: EndpointArgs,
}

impl ApiArgs {
    /// The answer of `POST /<operation>`, or the error's message and exit status 2 or 3.
    pub(crate) async fn call(&self, operation: &str, request: &Value) -> Value {
        ask(&client(), &self.endpoint.url(&format!("/{operation}")), request).await
    }

    /// Like [`ApiArgs::call`], but an error about `expression` (a group's filter) shows the caret.
    pub(crate) async fn call_with_expression(&self, operation: &str, request: &Value, expression: &str) -> Value {
        let url = self.endpoint.url(&format!("/{operation}"));
        let (status, body) = post_or_exit(&client(), &url, request).await;
        if !status.is_success() {
            ScopedExpression::new(expression, None).reject(status, &body);
        }
        body
    }

    /// JSON, pretty.
    pub(crate) fn print_json(&self, value: &Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// `K=V` options (`--dimension GroupName=slow`, `--attribute team=payments`) as a JSON object.
pub(crate) fn key_values(option: &str, pairs: &[String]) -> anyhow::Result<Value> {
    let mut object = serde_json::Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("{option} {pair:?}: expected KEY=VALUE");
        };
        object.insert(key.to_owned(), json!(value));
    }
    Ok(Value::Object(object))
}

/// The options every query over traces takes: which window of time, which group, how many
/// results, table or JSON, and which server.
#[derive(Args, Clone)]
pub(crate) struct QueryArgs {
    /// How far back from --to (default: now): 30s, 15m, 2h, 1d (at most 24 h; default 1h).
    /// Ignored with --from.
    #[arg(long, value_name = "DURATION", help_heading = "Query")]
    pub(crate) since: Option<String>,
    /// Window start: epoch seconds or RFC 3339 (2026-01-02T10:00:00Z).
    #[arg(long, alias = "start", value_name = "TIME", help_heading = "Query")]
    pub(crate) from: Option<String>,
    /// Window end (default: now): epoch seconds or RFC 3339.
    #[arg(long, alias = "end", value_name = "TIME", help_heading = "Query")]
    pub(crate) to: Option<String>,
    /// Only the traces of this group (by name), as created with `trace groups create`.
    #[arg(long, value_name = "NAME", help_heading = "Query")]
    pub(crate) group: Option<String>,
    /// At most this many results (traces, log lines, attribute values).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Query")]
    limit: Option<u64>,
    /// Print JSON (the shape is in the command's help and docs/cli.md) instead of a table.
    #[arg(long, help_heading = "Query")]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) endpoint: EndpointArgs,
}

impl QueryArgs {
    /// The window in epoch seconds; `--since` counts back from `--to`, or from now.
    pub(crate) fn window(&self) -> anyhow::Result<(f64, f64)> {
        let end = match self.to.as_deref() {
            Some(end) => time_seconds("--to", end)?,
            None => now_seconds(),
        };
        let start = match self.from.as_deref() {
            Some(start) => time_seconds("--from", start)?,
            None => end - parse_duration(self.since.as_deref().unwrap_or(DEFAULT_SINCE))?,
        };
        Ok((start, end))
    }

    /// The window as the API's `StartTime`/`EndTime` values.
    pub(crate) fn window_json(&self) -> anyhow::Result<(Value, Value)> {
        let (start, end) = self.window()?;
        Ok((json!(start), json!(end)))
    }

    /// `--limit`, or the command's default.
    pub(crate) fn limit_or(&self, default: usize) -> usize {
        self.limit.map_or(default, |limit| usize::try_from(limit).unwrap_or(usize::MAX))
    }

    /// Exits with a usage error when `--limit` was given to a command that has nothing to cut.
    pub(crate) fn refuse_limit(&self, command: &str) {
        if self.limit.is_some() {
            eprintln!("error: --limit does not apply to `trace {command}`");
            exit(EXIT_USAGE);
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.endpoint.url(path)
    }
}

/// An expression sent to the server: what the user typed, scoped to `--group` by a prefix
/// (GetTraceSummaries has no GroupName; `group.name = "G"` inlines the group's filter), and
/// how many characters the prefix shifts the server's columns.
pub(crate) struct ScopedExpression<'a> {
    pub(crate) typed: &'a str,
    pub(crate) sent: String,
    prefix_chars: usize,
}

impl<'a> ScopedExpression<'a> {
    pub(crate) fn new(typed: &'a str, group: Option<&str>) -> ScopedExpression<'a> {
        let Some(group) = group else { return ScopedExpression { typed, sent: typed.to_owned(), prefix_chars: 0 } };
        let condition = format!("group.name = \"{}\"", group.replace('\\', "\\\\").replace('"', "\\\""));
        if typed.trim().is_empty() {
            return ScopedExpression { typed, sent: condition, prefix_chars: 0 };
        }
        let prefix = format!("{condition} AND (");
        ScopedExpression { typed, sent: format!("{prefix}{typed})"), prefix_chars: prefix.chars().count() }
    }

    /// Reports the server's refusal of the expression and exits (2, or 3 for a server error).
    pub(crate) fn reject(&self, status: StatusCode, body: &Value) -> ! {
        report_rejection(self.typed, self.prefix_chars, body);
        exit(if status.is_client_error() { EXIT_USAGE } else { EXIT_SERVER_ERROR })
    }
}

/// The server's message; for an expression error, the expression with a caret under the
/// column the message names (less `shift`, the characters the CLI put before the expression).
pub(crate) fn report_rejection(expression: &str, shift: usize, body: &Value) {
    let kind = body["__type"].as_str().unwrap_or("error");
    let message = body["message"].as_str().unwrap_or("the server rejected the request");
    let column = column_of(message).and_then(|column| column.checked_sub(shift)).filter(|&column| column >= 1);
    let message = match column {
        Some(column) if shift > 0 => {
            message.replace(&format!("at column {}", column + shift), &format!("at column {column}"))
        }
        _ => message.to_owned(),
    };
    eprintln!("error: {message}");
    if let Some(column) = column {
        eprintln!("  {expression}");
        eprintln!("  {}^", " ".repeat(column - 1));
    } else if kind != "InvalidRequestException" {
        eprintln!("({kind})");
    }
}

/// The 1-based column of an expression error: in `expected X after Y at column N` the last
/// column named (X may mention an opening bracket's column), in every other message the first
/// (as the dashboard's `filterErrorColumn` reads them; docs/api.md "Errors").
fn column_of(message: &str) -> Option<usize> {
    const MARK: &str = "at column ";
    let at = if message.starts_with("expected ") { message.rfind(MARK)? } else { message.find(MARK)? };
    let rest = &message[at + MARK.len()..];
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}

/// The server's successful answer; otherwise the message and exit status 2 (rejected) or 3
/// (failed, or unreachable: then how to start a server).
pub(crate) async fn ask(client: &reqwest::Client, url: &str, request: &Value) -> Value {
    match post_json(client, url, request).await {
        Ok((status, body)) if status.is_success() => body,
        Ok((status, body)) => {
            let message = body["message"].as_str().unwrap_or("the server rejected the request");
            eprintln!("error: {message}");
            exit(if status.is_client_error() { EXIT_USAGE } else { EXIT_SERVER_ERROR });
        }
        Err(error) => unreachable_server(&error),
    }
}

/// Reports a failed request (the server could not be reached, or answered without JSON) and
/// exits 3.
pub(crate) fn unreachable_server(error: &anyhow::Error) -> ! {
    eprintln!("error: {error:#}");
    exit(EXIT_SERVER_ERROR)
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
            "cannot reach {url}; start a server with `fluoro serve` (or `fluoro demo`), or name another with --endpoint or FLUORO_ENDPOINT"
        )
    })?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} answered {status} without JSON"))?;
    Ok((status, body))
}

/// Like [`post_json`], but a server that cannot be reached exits 3 at once.
pub(crate) async fn post_or_exit(client: &reqwest::Client, url: &str, request: &Value) -> (StatusCode, Value) {
    match post_json(client, url, request).await {
        Ok(answer) => answer,
        Err(error) => unreachable_server(&error),
    }
}

/// What [`follow_pages`] fetched: the listed items, the `NextToken` of what was left, and the
/// pages themselves (for totals such as `TracesProcessedCount`).
#[derive(Default)]
pub(crate) struct Pages {
    pub(crate) items: Vec<Value>,
    pub(crate) next: Option<String>,
    pub(crate) pages: Vec<Value>,
}

/// Follows `NextToken` until the last page or until `limit` items of the page's `key` array:
/// `fetch(token, items so far)` asks for one page.
pub(crate) async fn follow_pages<Fetch, Page>(key: &str, limit: usize, mut fetch: Fetch) -> Pages
where
    Fetch: FnMut(Option<String>, usize) -> Page,
    Page: Future<Output = Value>,
{
    let mut fetched = Pages::default();
    loop {
        let page = fetch(fetched.next.take(), fetched.items.len()).await;
        fetched.items.extend(page[key].as_array().cloned().unwrap_or_default());
        fetched.next = page["NextToken"].as_str().map(str::to_owned);
        fetched.pages.push(page);
        if fetched.next.is_none() || fetched.items.len() >= limit {
            return fetched;
        }
    }
}

/// The HTTP client of every request: with the server's API token when one is given
/// ($FLUORO_API_TOKEN, else the file named by $FLUORO_API_TOKEN_FILE), read once.
pub(crate) fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| api_token().and_then(build_client).unwrap_or_else(|error| usage_error(&error))).clone()
}

fn api_token() -> anyhow::Result<Option<String>> {
    if let Ok(token) = std::env::var("FLUORO_API_TOKEN") {
        return Ok(Some(token.trim().to_owned()));
    }
    let Ok(path) = std::env::var("FLUORO_API_TOKEN_FILE") else { return Ok(None) };
    let token = std::fs::read_to_string(&path).with_context(|| format!("cannot read FLUORO_API_TOKEN_FILE {path}"))?;
    Ok(Some(token.trim().to_owned()))
}

fn build_client(token: Option<String>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the API token holds characters a header cannot carry")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(reqwest::Client::builder().default_headers(headers).build()?)
}

fn usage_error(error: &anyhow::Error) -> ! {
    eprintln!("error: {error:#}");
    exit(EXIT_USAGE)
}

pub(crate) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// Epoch seconds from epoch seconds or RFC 3339, read as the server reads them.
fn time_seconds(option: &str, text: &str) -> anyhow::Result<f64> {
    fluoro_ui::epoch_seconds(&json!(text))
        .with_context(|| format!("{option} {text:?}: expected epoch seconds or RFC 3339 (2026-01-02T10:00:00Z)"))
}

/// `30s`, `15m`, `1h`, `1d`, or plain seconds.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<f64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let number: f64 =
        number.parse().with_context(|| format!("{text:?}: expected a duration such as 30s, 15m, 1h, 1d"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => bail!("{text:?}: unknown unit {other:?}; use s, m, h or d"),
    };
    if !(number * scale).is_finite() || number < 0.0 {
        bail!("{text:?}: expected a positive duration");
    }
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
        assert!(parse_duration("-1m").is_err());
    }

    fn query(since: &str, from: Option<&str>, to: Option<&str>) -> QueryArgs {
        QueryArgs {
            since: Some(since.into()),
            from: from.map(Into::into),
            to: to.map(Into::into),
            group: None,
            limit: None,
            json: false,
            endpoint: EndpointArgs { endpoint: DEFAULT_SERVER.into() },
        }
    }

    #[test]
    fn window_edges_are_read_as_epoch_seconds_or_rfc3339() {
        let window = query("1h", Some("2026-01-02T10:00:00Z"), Some("1767351600")).window().unwrap();
        assert_eq!(window, (1_767_348_000.0, 1_767_351_600.0));
        assert_eq!(query("1h", None, None).url("/api/histogram"), "http://127.0.0.1:2020/api/histogram");
        let error = query("1h", Some("yesterday"), None).window().unwrap_err().to_string();
        assert!(error.contains("--from \"yesterday\""), "{error}");
    }

    #[test]
    fn since_counts_back_from_to_when_to_is_given() {
        let window = query("15m", None, Some("2026-01-02T10:00:00Z")).window().unwrap();
        assert_eq!(window, (1_767_348_000.0 - 900.0, 1_767_348_000.0));
    }

    #[test]
    fn error_columns_and_group_scopes() {
        assert_eq!(column_of("expected a number after > at column 16"), Some(16));
        assert_eq!(column_of("unbalanced { at column 7: no } before the end"), Some(7));
        assert_eq!(column_of("expected } to close { at column 3 at column 20"), Some(20));
        assert_eq!(column_of("group \"x\" does not exist"), None);
        let scoped = ScopedExpression::new("fault", Some("we\"b"));
        assert_eq!(scoped.sent, "group.name = \"we\\\"b\" AND (fault)");
        assert_eq!(scoped.prefix_chars, "group.name = \"we\\\"b\" AND (".len());
        assert_eq!(ScopedExpression::new(" ", Some("web")).sent, "group.name = \"web\"");
        assert_eq!(ScopedExpression::new("fault", None).sent, "fault");
    }
}
