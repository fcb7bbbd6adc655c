//! `trace filter EXPR`: trace summaries matching a filter expression, from the server's
//! `POST /TraceSummaries`, as a table or as JSON.

use clap::Args;
use serde_json::{json, Value};

use crate::query::{post_json, QueryArgs};

/// Longer URLs are cut in the table.
const URL_WIDTH: usize = 60;

/// Find traces matching a filter expression (X-Ray's filter language).
///
/// Examples:
///   trace filter 'responsetime > 2'                      slow traces of the last hour
///   trace filter 'fault' --since 15m                     faults of the last 15 minutes
///   trace filter 'service("payments") { error }' --json  as JSON, for scripts
///   trace filter 'http.url CONTAINS "/checkout" AND http.status >= 500'
///   trace filter 'annotation.customer = "acme"' --start 2026-01-02T10:00:00Z --end 2026-01-02T11:00:00Z
///   trace filter 'group.name = "slow" AND fault'         a group's filter, as created with CreateGroup
///   trace filter 'rootcause.json = #[{"Services": [{"Name": "web"}, {"Name": "payments"}]}]'
///                                                        a root cause's path, in the shape of --json's FaultRootCauses
///   trace filter '' --limit 500                          every trace (an empty expression matches all)
///
/// Exit status: 0 on success, 2 when the server rejects the expression or the request.
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
    /// Print the summaries as JSON (X-Ray's TraceSummary shape) instead of a table.
    #[arg(long)]
    json: bool,
    /// At most this many traces.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

pub(crate) async fn run(args: FilterArgs) -> anyhow::Result<()> {
    let (start, end) = args.query.window()?;
    let client = reqwest::Client::new();
    let url = args.query.url("/TraceSummaries");
    let mut summaries = Vec::new();
    let mut processed = 0;
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({"StartTime": start, "EndTime": end, "FilterExpression": args.expression,
                                 "TimeRangeType": if args.event_time { "Event" } else { "TraceId" }});
        if let Some(token) = &token {
            request["NextToken"] = json!(token);
        }
        let (status, body) = post_json(&client, &url, &request).await?;
        if !status.is_success() {
            report_rejection(&args.expression, &body);
            std::process::exit(2);
        }
        processed += body["TracesProcessedCount"].as_u64().unwrap_or_default();
        summaries.extend(body["TraceSummaries"].as_array().cloned().unwrap_or_default());
        token = body["NextToken"].as_str().map(str::to_owned);
        if token.is_none() || summaries.len() >= args.limit {
            break;
        }
    }
    summaries.truncate(args.limit);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else {
        print_table(&summaries);
        let more = if token.is_some() { " (more with --limit)" } else { "" };
        eprintln!("{} traces shown{more}; {processed} processed", summaries.len());
    }
    Ok(())
}

/// The server's message; for an expression error, the expression with a caret under the
/// column the message names.
pub(crate) fn report_rejection(expression: &str, body: &Value) {
    let kind = body["__type"].as_str().unwrap_or("error");
    let message = body["message"].as_str().unwrap_or("the server rejected the request");
    eprintln!("error: {message}");
    if let Some(column) = column_of(message) {
        eprintln!("  {expression}");
        eprintln!("  {}^", " ".repeat(column.saturating_sub(1)));
    } else if kind != "InvalidRequestException" {
        eprintln!("({kind})");
    }
}

/// The 1-based column in "… at column N…".
fn column_of(message: &str) -> Option<usize> {
    let rest = &message[message.find("at column ")? + "at column ".len()..];
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}

fn print_table(summaries: &[Value]) {
    let header = ["ID", "START (UTC)", "RESPONSE", "STATUS", "METHOD", "URL", "ROOT CAUSE"];
    let rows: Vec<[String; 7]> = summaries.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5], &row[6]]);
    }
}

fn row(summary: &Value) -> [String; 7] {
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let response = summary["ResponseTime"].as_f64().map_or("-".to_owned(), |seconds| format!("{seconds:.3}s"));
    let mut url = text(&summary["Http"]["HttpURL"]);
    if url.chars().count() > URL_WIDTH {
        url = url.chars().take(URL_WIDTH - 1).collect::<String>() + "…";
    }
    [
        text(&summary["Id"]),
        summary["StartTime"].as_f64().map_or("-".to_owned(), utc),
        response,
        status(summary),
        text(&summary["Http"]["HttpMethod"]),
        url,
        root_cause(summary),
    ]
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
fn utc(seconds: f64) -> String {
    let whole = seconds.floor() as i64;
    let (days, rest) = (whole.div_euclid(86_400), whole.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Howard Hinnant's civil_from_days.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_and_dates() {
        assert_eq!(column_of("expected a number after > at column 16"), Some(16));
        assert_eq!(column_of("unbalanced { at column 7: no } before the end"), Some(7));
        assert_eq!(column_of("group \"x\" does not exist"), None);
        assert_eq!(utc(1_700_000_000.0), "2023-11-14 22:13:20");
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
    }
}
