//! `trace filter EXPR`: trace summaries matching a filter expression, from the server's
//! `POST /TraceSummaries`, as a table or as JSON.

use chrono::DateTime;
use clap::Args;
use serde_json::{json, Value};

use crate::query::{client, follow_pages, post_or_exit, QueryArgs, ScopedExpression, EXIT_NONE_MATCHED};
use crate::table::{Align, Row, Table, Terminal};

/// Traces shown without --limit.
const DEFAULT_LIMIT: usize = 50;

/// The summaries table: the URL is cut to fit the terminal, the status painted.
pub(crate) const SUMMARY_TABLE: Table<'static> = Table {
    header: &["ID", "START (UTC)", "RESPONSE", "STATUS", "METHOD", "URL", "ROOT CAUSE"],
    align: &[Align::Left, Align::Left, Align::Right, Align::Left, Align::Left, Align::Left, Align::Left],
    flexible: Some(5),
    coloured: Some(3),
};

/// Find traces matching a filter expression (X-Ray's filter language).
///
/// Examples:
///   trace filter 'responsetime > 2'                      slow traces of the last hour
///   trace filter 'fault' --since 15m                     faults of the last 15 minutes
///   trace filter 'service("payments") { error }' --json  as JSON, for scripts
///   trace filter 'http.url CONTAINS "/checkout" AND http.status >= 500'
///   trace filter 'annotation.customer = "acme"' --from 2026-01-02T10:00:00Z --to 2026-01-02T11:00:00Z
///   trace filter fault --group slow                      within a group (same as 'group.name = "slow" AND (fault)')
///   trace filter 'rootcause.json = #[{"Services": [{"Name": "web"}, {"Name": "payments"}]}]'
///                                                        a root cause's path, in the shape of --json's FaultRootCauses
///   trace filter '' --limit 500                          every trace (an empty expression matches all)
///
/// JSON shape: [TraceSummary], X-Ray's (Id, StartTime, ResponseTime, Duration, Http, HasFault,
/// HasError, HasThrottle, ServiceIds, FaultRootCauses, ErrorRootCauses, …), oldest first
/// (by start time, as the server pages them); --limit keeps the first.
///
/// Exit status: 0 traces found, 1 none matched, 2 usage error or a rejected expression (shown
/// with a caret under the column), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct FilterArgs {
    /// The filter expression; quote it for the shell.
    expression: String,
    #[command(flatten)]
    query: QueryArgs,
    /// Select traces with any span in the window, not only those that started in it.
    #[arg(long)]
    event_time: bool,
}

/// Summaries matching `expression` in the window, following `NextToken` up to `limit`; a
/// refusal exits. Also whether more were left and how many traces the server processed.
pub(crate) async fn summaries(
    query: &QueryArgs,
    expression: &ScopedExpression<'_>,
    (start, end): (f64, f64),
    event_time: bool,
    limit: usize,
) -> (Vec<Value>, bool, u64) {
    let client = &client();
    let url = &query.url("/TraceSummaries");
    let fetched = follow_pages("TraceSummaries", limit, |token, _| {
        let request = json!({"StartTime": start, "EndTime": end, "FilterExpression": expression.sent,
                             "TimeRangeType": if event_time { "Event" } else { "TraceId" }, "NextToken": token});
        async move {
            let (status, body) = post_or_exit(client, url, &request).await;
            if !status.is_success() {
                expression.reject(status, &body);
            }
            body
        }
    })
    .await;
    let processed = fetched.pages.iter().filter_map(|page| page["TracesProcessedCount"].as_u64()).sum();
    let mut summaries = fetched.items;
    let more = fetched.next.is_some() || summaries.len() > limit;
    summaries.truncate(limit);
    (summaries, more, processed)
}

pub(crate) async fn run(args: FilterArgs) -> anyhow::Result<()> {
    let window = args.query.window()?;
    let expression = ScopedExpression::new(&args.expression, args.query.group.as_deref());
    let limit = args.query.limit_or(DEFAULT_LIMIT);
    let (summaries, more, processed) = summaries(&args.query, &expression, window, args.event_time, limit).await;
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else {
        let terminal = Terminal::stdout();
        let rows: Vec<Row> = summaries.iter().map(row).collect();
        for line in SUMMARY_TABLE.render(&rows, &terminal) {
            println!("{line}");
        }
        let more = if more { " (more with --limit)" } else { "" };
        eprintln!("{} traces shown{more}; {processed} processed", summaries.len());
    }
    if summaries.is_empty() {
        std::process::exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

/// A summary's cells, its status painted red for a fault, yellow for an error or throttle.
pub(crate) fn row(summary: &Value) -> Row {
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let response = summary["ResponseTime"].as_f64().map_or("-".to_owned(), |seconds| format!("{seconds:.3}s"));
    let colour = if summary["HasFault"] == json!(true) {
        Some("31")
    } else if summary["HasError"] == json!(true) || summary["HasThrottle"] == json!(true) {
        Some("33")
    } else {
        None
    };
    let cells = vec![
        text(&summary["Id"]),
        summary["StartTime"].as_f64().map_or("-".to_owned(), utc),
        response,
        status(summary),
        text(&summary["Http"]["HttpMethod"]),
        text(&summary["Http"]["HttpURL"]),
        root_cause(summary),
    ];
    Row { cells, colour }
}

fn status(summary: &Value) -> String {
    let code = summary["Http"]["HttpStatus"].as_u64().map(|code| code.to_string());
    let flag = [("HasFault", "fault"), ("HasThrottle", "throttle"), ("HasError", "error")]
        .into_iter()
        .find(|(field, _)| summary[field] == json!(true))
        .map(|(_, name)| name)
        .or_else(|| (summary["IsPartial"] == json!(true)).then_some("partial"));
    match (code, flag) {
        (Some(code), Some(flag)) => format!("{code} {flag}"),
        (Some(code), None) => code,
        (None, Some(flag)) => flag.to_owned(),
        (None, None) => "ok".to_owned(),
    }
}

/// The service at the end of the first fault root cause, else error, else response time.
fn root_cause(summary: &Value) -> String {
    ["FaultRootCauses", "ErrorRootCauses", "ResponseTimeRootCauses"]
        .into_iter()
        .find_map(|list| summary[list][0]["Services"].as_array()?.last()?["Name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}

/// `2026-01-02 03:04:05` from epoch seconds.
pub(crate) fn utc(seconds: f64) -> String {
    DateTime::from_timestamp(seconds.floor() as i64, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(1_700_000_000.0), "2023-11-14 22:13:20");
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
    }
}
