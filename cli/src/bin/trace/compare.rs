//! `trace compare SELECTION`: the server's `POST /api/compare` — the response-time
//! distributions of two trace sets side by side and the attribute values that differ most
//! between them, as tables or as JSON.

use clap::Args;
use serde_json::{json, Value};

use crate::query::{client, post_or_exit, QueryArgs, ScopedExpression};

/// Attribute values shown without --limit.
const DEFAULT_TOP: usize = 15;

/// How `POST /api/compare` starts a message about the baseline expression.
const BASELINE_ERROR_PREFIX: &str = "Baseline: ";

/// Compare the traces matching a filter expression with the rest (or with a baseline).
///
/// Ranks every attribute value (http.status, http.url, http.method, entrypoint, service,
/// user, annotation, fault/error/throttle, exception, rootcause.*.service) by how differently
/// it is represented in the two sets. `effect` is the score: the difference in shares, shrunk
/// when too few traces support it (|z| of the 0.5-corrected log odds ratio below 1.96).
///
/// Examples:
///   trace compare 'responsetime > 3'                        slow traces vs the rest, last hour
///   trace compare 'fault' --baseline 'ok' --since 15m       faulting vs clean traces
///   trace compare 'service("payments") { fault }' --top 30  more rows
///   trace compare 'fault' --group web                       both sets within a group, as created with CreateGroup
///   trace compare 'responsetime > 3' --json                 the whole comparison, for scripts
///
/// --group keeps only the group's traces in both sets; --limit (or --top) is the number of
/// attribute values shown (default 15).
///
/// JSON shape: the answer of POST /api/compare (docs/api.md): {"Selection": {"Expression",
/// "Traces", "Percentiles": {"P50", "P90", "P95", "P99"} | null}, "Baseline": {same},
/// "Ranking": [{"Attribute", "Value", "SelectionShare", "BaselineShare", "Difference", "Score", "Z"}]}.
///
/// Exit status: 0 on success, 2 usage error or a rejected expression (shown with a caret under
/// the column), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CompareArgs {
    /// The selection's filter expression; quote it for the shell.
    selection: String,
    /// The baseline's filter expression (default: the traces not matching the selection).
    #[arg(long)]
    baseline: Option<String>,
    #[command(flatten)]
    query: QueryArgs,
    /// Attribute values shown in the table (the same as --limit).
    #[arg(long, conflicts_with = "limit")]
    top: Option<usize>,
}

pub(crate) async fn run(args: CompareArgs) -> anyhow::Result<()> {
    let (start, end) = args.query.window_json()?;
    let request = json!({"StartTime": start, "EndTime": end, "Selection": args.selection, "Baseline": args.baseline,
                         "GroupName": args.query.group});
    let (status, body) = post_or_exit(&client(), &args.query.url("/api/compare"), &request).await;
    if !status.is_success() {
        // The server names the baseline in its errors; others are the selection's.
        let message = body["message"].as_str().unwrap_or_default();
        let blamed = match &args.baseline {
            Some(baseline) if message.starts_with(BASELINE_ERROR_PREFIX) => baseline,
            _ => &args.selection,
        };
        ScopedExpression::new(blamed, None).reject(status, &body);
    }
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    print_table(&distribution_rows(&body));
    println!();
    print_table(&ranking_rows(&body, args.top.unwrap_or_else(|| args.query.limit_or(DEFAULT_TOP))));
    Ok(())
}

fn distribution_rows(body: &Value) -> Vec<Vec<String>> {
    let mut rows = vec![["", "selection", "baseline"].map(str::to_owned).to_vec()];
    let (selection, baseline) = (&body["Selection"], &body["Baseline"]);
    let expression = |set: &Value| set["Expression"].as_str().unwrap_or("(the rest)").to_owned();
    rows.push(vec!["expression".to_owned(), expression(selection), expression(baseline)]);
    let traces = |set: &Value| set["Traces"].as_u64().unwrap_or_default().to_string();
    rows.push(vec!["traces".to_owned(), traces(selection), traces(baseline)]);
    for quantile in ["P50", "P90", "P95", "P99"] {
        let seconds =
            |set: &Value| set["Percentiles"][quantile].as_f64().map_or("-".to_owned(), |value| format!("{value:.3}s"));
        rows.push(vec![quantile.to_lowercase(), seconds(selection), seconds(baseline)]);
    }
    rows
}

fn ranking_rows(body: &Value, top: usize) -> Vec<Vec<String>> {
    let header = ["attribute", "value", "selection %", "baseline %", "effect"].map(str::to_owned).to_vec();
    let empty = Vec::new();
    let ranking = body["Ranking"].as_array().unwrap_or(&empty);
    let percent = |value: &Value| format!("{:.1}", value.as_f64().unwrap_or_default() * 100.0);
    let rows = ranking.iter().take(top).map(|row| {
        let sign = if row["Difference"].as_f64().unwrap_or_default() < 0.0 { "-" } else { "+" };
        vec![
            row["Attribute"].as_str().unwrap_or("-").to_owned(),
            row["Value"].as_str().unwrap_or("-").to_owned(),
            percent(&row["SelectionShare"]),
            percent(&row["BaselineShare"]),
            format!(
                "{sign}{:.3} (z {:+.1})",
                row["Score"].as_f64().unwrap_or_default(),
                row["Z"].as_f64().unwrap_or_default()
            ),
        ]
    });
    std::iter::once(header).chain(rows).collect()
}

/// Rows as left-aligned columns separated by ` | `.
pub(crate) fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or_default();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|row| row.get(c)).map(|cell| cell.chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", cells.join(" | ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_show_shares_and_effects() {
        let body = json!({
            "Selection": {"Expression": "responsetime > 3", "Traces": 57, "Percentiles": {"P50": 4.1, "P90": 4.8, "P95": 4.9, "P99": 5.0}},
            "Baseline": {"Expression": null, "Traces": 143, "Percentiles": null},
            "Ranking": [{"Attribute": "http.url", "Value": "/api/adopt", "SelectionShare": 0.807, "BaselineShare": 0.0,
                         "Difference": 0.807, "Score": 0.807, "Z": 4.86}],
        });
        let distribution = distribution_rows(&body);
        assert_eq!(distribution[1], ["expression", "responsetime > 3", "(the rest)"]);
        assert_eq!(distribution[3], ["p50", "4.100s", "-"]);
        let ranking = ranking_rows(&body, 10);
        assert_eq!(ranking[1], ["http.url", "/api/adopt", "80.7", "0.0", "+0.807 (z +4.9)"]);
        assert_eq!(ranking_rows(&body, 0).len(), 1);
    }
}
