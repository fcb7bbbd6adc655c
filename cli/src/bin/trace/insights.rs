//! `trace insights`: the server's `POST /InsightSummaries` (X-Ray's GetInsightSummaries) —
//! the insights active in a window, as a table or as JSON.

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::compare::print_table;
use crate::query::{ask, QueryArgs, EXIT_NONE_MATCHED};

/// List insights: fault-rate and latency anomalies with their root-cause service and impact.
///
/// `fluoro serve` compares each service's fault rate and p99 response time, minute by minute,
/// with its own last hour
/// (the Default group, and every group with InsightsEnabled) and opens an insight naming the
/// root-cause service when the rise is significant; it closes when the rate returns.
///
/// Examples:
///   trace insights                          insights active in the last hour
///   trace insights --state active --since 1d
///   trace insights --group web --json       one group's, for scripts
///
/// Exit status: 0 when some insight is listed, 1 when none, 2 when the server rejects the
/// request, 3 when it fails or cannot be reached.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct InsightsArgs {
    /// Only insights in this state.
    #[arg(long, value_enum)]
    state: Option<State>,
    /// Only the insights of this group (by name); default: every group.
    #[arg(long)]
    group: Option<String>,
    #[command(flatten)]
    query: QueryArgs,
    /// Print the server's answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum State {
    Active,
    Closed,
}

pub(crate) async fn run(args: InsightsArgs) -> anyhow::Result<()> {
    let (start, end) = args.query.window()?;
    let states: Vec<&str> = match args.state {
        Some(State::Active) => vec!["ACTIVE"],
        Some(State::Closed) => vec!["CLOSED"],
        None => Vec::new(),
    };
    let client = reqwest::Client::new();
    let mut insights = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = json!({"StartTime": start, "EndTime": end, "States": states, "GroupName": args.group,
                             "NextToken": token});
        let body = ask(&client, &args.query.url("/InsightSummaries"), &request).await;
        insights.extend(body["InsightSummaries"].as_array().cloned().unwrap_or_default());
        token = body["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"InsightSummaries": insights}))?);
    } else if !insights.is_empty() {
        print_table(&table(&insights));
    }
    if insights.is_empty() {
        if !args.json {
            eprintln!("no insights in the window");
        }
        std::process::exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

fn table(insights: &[Value]) -> Vec<Vec<String>> {
    let mut rows =
        vec![["STATE", "CATEGORY", "ROOT CAUSE", "GROUP", "START", "END", "DURATION", "CLIENT FAULTS", "ID"]
            .map(str::to_owned)
            .to_vec()];
    for insight in insights {
        let start = insight["StartTime"].as_i64();
        let end = insight["EndTime"].as_i64();
        let clients = &insight["ClientRequestImpactStatistics"];
        rows.push(vec![
            text(&insight["State"]),
            insight["Categories"].as_array().map_or("-".to_owned(), |categories| {
                categories.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
            }),
            text(&insight["RootCauseServiceId"]["Name"]),
            text(&insight["GroupName"]),
            start.map_or("-".to_owned(), utc_minute),
            end.map_or("-".to_owned(), utc_minute),
            match (start, end) {
                (Some(start), Some(end)) => format!("{}m", (end - start) / 60),
                _ => "ongoing".to_owned(),
            },
            format!("{}/{}", clients["FaultCount"].as_u64().unwrap_or(0), clients["TotalCount"].as_u64().unwrap_or(0)),
            text(&insight["InsightId"]),
        ]);
    }
    rows
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

/// `2026-01-01T10:05Z` from epoch seconds.
fn utc_minute(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}Z", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_state_root_cause_times_and_client_faults() {
        let insight = json!({"InsightId": "abc", "GroupName": "Default", "State": "CLOSED", "Categories": ["FAULT"],
            "RootCauseServiceId": {"Name": "catalog"}, "StartTime": 1_767_225_600, "EndTime": 1_767_226_200,
            "ClientRequestImpactStatistics": {"FaultCount": 120, "OkCount": 280, "TotalCount": 400}});
        let rows = table(&[insight]);
        assert_eq!(
            rows[1],
            [
                "CLOSED",
                "FAULT",
                "catalog",
                "Default",
                "2026-01-01T00:00Z",
                "2026-01-01T00:10Z",
                "10m",
                "120/400",
                "abc"
            ]
        );
        assert_eq!(utc_minute(951_782_400 + 3_661), "2000-02-29T01:01Z");
    }
}
