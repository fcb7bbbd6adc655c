//! `trace logs [ID]`: log lines from the server's `POST /api/logs/trace` (one trace, oldest
//! first) or `POST /api/logs/search` (by service, severity, text and time, newest first,
//! following `NextToken`), as aligned lines or as the API's JSON.

use std::process::exit;

use chrono::DateTime;
use clap::Args;
use serde_json::{json, Value};

use crate::query::{ask, client, follow_pages, QueryArgs, EXIT_NONE_MATCHED};

/// Lines shown without --limit.
const DEFAULT_LIMIT: usize = 100;

/// The server's largest search page (`Limit` 1–1000).
const MAX_PAGE: usize = 1000;

/// Show the log lines of a trace, or search log lines by service, severity, text and time.
///
/// With a trace id: that trace's lines (or one segment's, with --segment), oldest first.
/// Without: the lines of the window (--since, --from, --to) matching every option given,
/// newest first, at most --limit of them (default 100).
///
/// Each line: time (UTC, RFC 3339 with milliseconds), service, severity, segment id ("-" for a
/// line written outside any span), message.
///
/// Examples:
///   trace logs 1-5759e988-bd862e3fe1be46a994272793           a trace's lines, oldest first
///   trace logs 5759e988bd862e3fe1be46a994272793 --segment 70de5b6f19ff9a0a
///   trace logs --service pet-search --grep memory --since 15m
///   trace logs --severity WARN --limit 500                   warnings and worse, last hour
///   trace logs --service payments --json                     the API's answer, for scripts
///
/// JSON shape: {"Logs": [{"Time", "ObservedTime", "TraceId"?, "SegmentId"?, "Service",
/// "SeverityNumber", "SeverityText", "Body", "Attributes"}], "NextToken"?} (ui/src/logs.rs).
///
/// Exit status: 0 when lines were found, 1 when none matched, 2 on a usage error or a request
/// the server rejects, 3 when the server fails or cannot be reached.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct LogsArgs {
    /// The trace id, X-Ray (1-5759e988-bd862e3fe1be46a994272793) or W3C (32 hex digits).
    trace_id: Option<String>,
    /// Only the lines of this segment or subsegment (16 hex digits); with a trace id.
    #[arg(long, requires = "trace_id")]
    segment: Option<String>,
    /// Search: only lines of this service (exact name).
    #[arg(long, conflicts_with = "trace_id")]
    service: Option<String>,
    /// Search: only lines whose message contains this text (case-insensitive).
    #[arg(long, conflicts_with = "trace_id")]
    grep: Option<String>,
    /// Search: only lines at least this severe: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or 1–24.
    #[arg(long, conflicts_with = "trace_id")]
    severity: Option<String>,
    #[command(flatten)]
    query: QueryArgs,
}

pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let answer = match &args.trace_id {
        Some(trace_id) => {
            // A trace's lines come whole, oldest first: nothing to cut.
            args.query.refuse_limit("logs ID");
            trace_logs(&args, trace_id).await?
        }
        None => search_logs(&args).await?,
    };
    let lines = answer["Logs"].as_array().cloned().unwrap_or_default();
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        for line in aligned(&lines) {
            println!("{line}");
        }
    }
    if lines.is_empty() {
        eprintln!("no log lines matched");
        exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

async fn trace_logs(args: &LogsArgs, trace_id: &str) -> anyhow::Result<Value> {
    let mut request = json!({"TraceId": trace_id});
    if let Some(segment) = &args.segment {
        request["SegmentId"] = json!(segment);
    }
    Ok(ask(&client(), &args.query.url("/api/logs/trace"), &request).await)
}

/// Page after page until `--limit` lines or the last page; the answer keeps the `NextToken`
/// of the lines not fetched.
async fn search_logs(args: &LogsArgs) -> anyhow::Result<Value> {
    let (start, end) = args.query.window_json()?;
    let client = &client();
    let url = &args.query.url("/api/logs/search");
    let limit = args.query.limit_or(DEFAULT_LIMIT);
    let fetched = follow_pages("Logs", limit, |token, fetched| {
        let request = json!({"StartTime": start, "EndTime": end, "Service": args.service,
                             "Severity": args.severity, "Text": args.grep,
                             "Limit": (limit - fetched).min(MAX_PAGE), "NextToken": token});
        async move { ask(client, url, &request).await }
    })
    .await;
    let mut answer = json!({"Logs": fetched.items});
    if let Some(token) = fetched.next {
        answer["NextToken"] = json!(token);
    }
    Ok(answer)
}

/// One string per log line, columns padded to the widest cell.
fn aligned(lines: &[Value]) -> Vec<String> {
    let rows: Vec<[String; 5]> = lines.iter().map(cells).collect();
    let mut widths = [0; 4];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|[time, service, severity, segment, message]| {
            let [w0, w1, w2, w3] = widths;
            format!("{time:<w0$}  {service:<w1$}  {severity:<w2$}  {segment:<w3$}  {message}")
        })
        .collect()
}

/// Time, service, severity, segment id, message of one line of the API's answer. A message
/// spanning lines is shown with `\n` so that each log line stays one line.
fn cells(line: &Value) -> [String; 5] {
    let text = |field: &str| line[field].as_str().filter(|text| !text.is_empty()).unwrap_or("-").to_owned();
    let severity = match line["SeverityText"].as_str().filter(|text| !text.is_empty()) {
        Some(name) => name.to_owned(),
        None => severity_name(line["SeverityNumber"].as_i64().unwrap_or_default()).to_owned(),
    };
    let message = line["Body"].as_str().unwrap_or_default().replace('\r', "\\r").replace('\n', "\\n");
    [
        line["Time"].as_f64().map_or("-".to_owned(), rfc3339_millis),
        text("Service"),
        severity,
        text("SegmentId"),
        message,
    ]
}

/// OTLP's severity ranges of four: 1–4 TRACE … 21–24 FATAL.
fn severity_name(number: i64) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "-",
    }
}

/// `2023-11-14T22:13:20.123Z` from epoch seconds, rounded to the millisecond.
fn rfc3339_millis(seconds: f64) -> String {
    let millis = (seconds * 1000.0).round() as i64;
    DateTime::from_timestamp_millis(millis).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_severities_their_names() {
        assert_eq!(rfc3339_millis(1_700_000_000.123_4), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_millis(1_700_000_000.999_6), "2023-11-14T22:13:21.000Z");
        assert_eq!([severity_name(9), severity_name(17), severity_name(0)], ["INFO", "ERROR", "-"]);
    }

    #[test]
    fn lines_are_aligned_and_stay_one_line() {
        let lines = [
            json!({"Time": 1_700_000_000.5, "Service": "web", "SeverityNumber": 9, "SeverityText": "",
                   "SegmentId": "70de5b6f19ff9a0a", "Body": "two\nlines"}),
            json!({"Time": 1_700_000_001.0, "Service": "pet-search", "SeverityNumber": 17,
                   "SeverityText": "ERROR", "Body": "Illegal memory allocation"}),
        ];
        assert_eq!(
            aligned(&lines),
            [
                "2023-11-14T22:13:20.500Z  web         INFO   70de5b6f19ff9a0a  two\\nlines",
                "2023-11-14T22:13:21.000Z  pet-search  ERROR  -                 Illegal memory allocation",
            ]
        );
    }
}
