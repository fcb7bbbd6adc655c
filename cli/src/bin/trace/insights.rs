//! `trace insights`: the server's `POST /InsightSummaries` (X-Ray's GetInsightSummaries) —
//! the insights active in a window, as a table or as JSON.

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::filter::utc;
use crate::query::{ask, client, follow_pages, QueryArgs, EXIT_NONE_MATCHED};
use crate::table::{Align, Row, Table, Terminal};

const INSIGHT_TABLE: Table<'static> = Table {
    header: &[
        "STATE",
        "CATEGORY",
        "ROOT CAUSE",
        "GROUP",
        "START (UTC)",
        "END (UTC)",
        "DURATION",
        "CLIENT FAULTS",
        "ID",
    ],
    align: &[
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Left,
    ],
    flexible: Some(2),
    coloured: Some(0),
};

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
    #[command(flatten)]
    query: QueryArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum State {
    Active,
    Closed,
}

pub(crate) async fn run(args: InsightsArgs) -> anyhow::Result<()> {
    args.query.refuse_limit("insights");
    let (start, end) = args.query.window()?;
    let states: Vec<&str> = match args.state {
        Some(State::Active) => vec!["ACTIVE"],
        Some(State::Closed) => vec!["CLOSED"],
        None => Vec::new(),
    };
    let client = &client();
    let url = &args.query.url("/InsightSummaries");
    let insights = follow_pages("InsightSummaries", usize::MAX, |token, _| {
        let request = json!({"StartTime": start, "EndTime": end, "States": states, "GroupName": args.query.group,
                             "NextToken": token});
        async move { ask(client, url, &request).await }
    })
    .await
    .items;
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&json!({"InsightSummaries": insights}))?);
    } else if !insights.is_empty() {
        let rows: Vec<Row> = insights.iter().map(insight_row).collect();
        for line in INSIGHT_TABLE.render(&rows, &Terminal::stdout()) {
            println!("{line}");
        }
    }
    if insights.is_empty() {
        if !args.query.json {
            eprintln!("no insights in the window");
        }
        std::process::exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

fn insight_row(insight: &Value) -> Row {
    let start = insight["StartTime"].as_f64();
    let end = insight["EndTime"].as_f64();
    let clients = &insight["ClientRequestImpactStatistics"];
    let minute = |seconds: f64| utc(seconds)[..16].to_owned();
    let cells = vec![
        text(&insight["State"]),
        insight["Categories"].as_array().map_or("-".to_owned(), |categories| {
            categories.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
        }),
        text(&insight["RootCauseServiceId"]["Name"]),
        text(&insight["GroupName"]),
        start.map_or("-".to_owned(), minute),
        end.map_or("-".to_owned(), minute),
        match (start, end) {
            (Some(start), Some(end)) => format!("{}m", ((end - start) / 60.0).round()),
            _ => "ongoing".to_owned(),
        },
        format!("{}/{}", clients["FaultCount"].as_u64().unwrap_or(0), clients["TotalCount"].as_u64().unwrap_or(0)),
        text(&insight["InsightId"]),
    ];
    let colour = match insight["State"].as_str() {
        Some("ACTIVE") => Some("31"),
        _ => None,
    };
    Row { cells, colour }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_state_root_cause_times_and_client_faults() {
        let insight = json!({"InsightId": "abc", "GroupName": "Default", "State": "CLOSED", "Categories": ["FAULT"],
            "RootCauseServiceId": {"Name": "catalog"}, "StartTime": 1_767_225_600, "EndTime": 1_767_226_200,
            "ClientRequestImpactStatistics": {"FaultCount": 120, "OkCount": 280, "TotalCount": 400}});
        let row = insight_row(&insight);
        assert_eq!(
            row.cells,
            ["CLOSED", "FAULT", "catalog", "Default", "2026-01-01 00:00", "2026-01-01 00:10", "10m", "120/400", "abc"]
        );
        assert_eq!(row.colour, None, "only active insights stand out");
    }
}
