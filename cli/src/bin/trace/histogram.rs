//! `trace histogram [EXPR]`: the server's `POST /api/histogram` — exact response-time and
//! duration percentiles of the traces matching a filter expression, and a text bar chart of
//! one of the two distributions, or the whole report as JSON.

use clap::Args;
use serde_json::{json, Value};

use crate::compare::print_table;
use crate::query::{client, post_or_exit, QueryArgs, ScopedExpression, EXIT_NONE_MATCHED};

/// The longest bar, in characters.
const BAR_WIDTH: usize = 40;
const MICROS_PER_SECOND: f64 = 1e6;

/// Show the latency of the traces matching a filter expression: percentiles and a bar chart.
///
/// Prints exact (nearest-rank) p50/p90/p95/p99, min, max and mean of response time (the root
/// segment's) and duration (first span start to last span end), then a chart of one of them.
///
/// The chart groups the server's 2-significant-digit buckets into 1-2-5 buckets per decade
/// ([10ms, 20ms), [20ms, 50ms), [50ms, 100ms), …); --json has the fine buckets.
///
/// Examples:
///   trace histogram                                       every trace of the last hour
///   trace histogram 'http.url CONTAINS "/checkout"' --since 15m
///   trace histogram 'service("payments")' --duration      chart durations, not response times
///   trace histogram 'fault' --group web                   within a group, as created with CreateGroup
///   trace histogram 'responsetime > 1' --json             the whole report, for scripts
///
/// JSON shape: the answer of POST /api/histogram (docs/api.md): {"Traces", "ResponseTime":
/// {"Count", "Summary": {"Min", "Max", "Mean", "P50", "P90", "P95", "P99"} | null,
/// "Distribution": [{"Value", "Count"}]}, "Duration": {same}}.
///
/// Exit status: 0 traces found, 1 none matched, 2 usage error or a rejected expression (shown
/// with a caret under the column), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct HistogramArgs {
    /// The filter expression; quote it for the shell. Absent or empty: every trace.
    expression: Option<String>,
    #[command(flatten)]
    query: QueryArgs,
    /// Chart durations (first span start to last span end) instead of response times.
    #[arg(long)]
    duration: bool,
}

pub(crate) async fn run(args: HistogramArgs) -> anyhow::Result<()> {
    args.query.refuse_limit("histogram");
    let (start, end) = args.query.window_json()?;
    let request = json!({"StartTime": start, "EndTime": end, "FilterExpression": args.expression,
                         "GroupName": args.query.group});
    let (status, body) = post_or_exit(&client(), &args.query.url("/api/histogram"), &request).await;
    if !status.is_success() {
        ScopedExpression::new(args.expression.as_deref().unwrap_or_default(), None).reject(status, &body);
    }
    let found = body["Traces"].as_u64().unwrap_or_default() > 0;
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print_report(&body, args.duration);
    }
    if !found {
        std::process::exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

fn print_report(body: &Value, duration: bool) {
    print_table(&summary_rows(body));
    let (field, measure) = if duration { ("Duration", "duration") } else { ("ResponseTime", "response time") };
    println!();
    println!("{measure}:");
    for line in chart(&coarse_buckets(&body[field]["Distribution"])) {
        println!("{line}");
    }
}

/// `traces`, then min, p50…p99, max and mean of both measures, side by side.
fn summary_rows(body: &Value) -> Vec<Vec<String>> {
    let (response, duration) = (&body["ResponseTime"], &body["Duration"]);
    let count = |measure: &Value| measure["Count"].as_u64().unwrap_or_default().to_string();
    let mut rows = vec![
        ["", "response time", "duration"].map(str::to_owned).to_vec(),
        vec!["traces".to_owned(), count(response), count(duration)],
    ];
    for statistic in ["Min", "P50", "P90", "P95", "P99", "Max", "Mean"] {
        let seconds = |measure: &Value| {
            measure["Summary"][statistic].as_f64().map_or("-".to_owned(), |value| format!("{value:.3}s"))
        };
        rows.push(vec![statistic.to_lowercase(), seconds(response), seconds(duration)]);
    }
    rows
}

/// `(lower bound µs, count)` per 1-2-5 bucket, from the first non-empty to the last, empty ones
/// in between kept so the chart shows gaps. At most 3 per decade, so the chart stays short.
fn coarse_buckets(distribution: &Value) -> Vec<(u64, u64)> {
    let empty = Vec::new();
    let mut counts: Vec<(u64, u64)> = Vec::new();
    for entry in distribution.as_array().unwrap_or(&empty) {
        let value_us = (entry["Value"].as_f64().unwrap_or_default() * MICROS_PER_SECOND).round().max(0.0) as u64;
        let bucket = one_two_five_floor(value_us);
        let count = entry["Count"].as_u64().unwrap_or_default();
        while let Some(&(last, _)) = counts.last().filter(|(last, _)| *last < bucket) {
            counts.push((next_one_two_five(last), 0));
        }
        match counts.last_mut() {
            Some((last, total)) if *last == bucket => *total += count,
            _ => counts.push((bucket, count)),
        }
    }
    counts
}

/// The largest of 0, 1, 2, 5, 10, 20, 50, … at or below `value_us`. The server's buckets have
/// 2 significant digits, so each lies within one 1-2-5 bucket.
fn one_two_five_floor(value_us: u64) -> u64 {
    let Some(exponent) = value_us.checked_ilog10() else { return 0 };
    let decade = 10u64.pow(exponent);
    [5, 2, 1].into_iter().map(|step| step * decade).find(|&edge| edge <= value_us).unwrap_or(decade)
}

fn next_one_two_five(edge_us: u64) -> u64 {
    match edge_us {
        0 => 1,
        edge if one_two_five_floor(edge.saturating_mul(2)) == edge.saturating_mul(2) => edge.saturating_mul(2),
        edge => edge.saturating_mul(5) / 2,
    }
}

/// One line per bucket: `[20ms, 50ms)  ########  3`, bars scaled to the largest count.
fn chart(buckets: &[(u64, u64)]) -> Vec<String> {
    let largest = buckets.iter().map(|&(_, count)| count).max().unwrap_or_default();
    if largest == 0 {
        return vec!["  (no traces)".to_owned()];
    }
    let labels: Vec<String> =
        buckets.iter().map(|&(from, _)| format!("[{}, {})", human(from), human(next_one_two_five(from)))).collect();
    let label_width = labels.iter().map(|label| label.chars().count()).max().unwrap_or_default();
    labels
        .iter()
        .zip(buckets)
        .map(|(label, &(_, count))| {
            let length = (count as f64 / largest as f64 * BAR_WIDTH as f64).round() as usize;
            let bar = "#".repeat(if count > 0 { length.max(1) } else { 0 });
            format!("  {label:>label_width$}  {bar:<BAR_WIDTH$}  {count}")
        })
        .collect()
}

/// `0`, `500µs`, `20ms`, `5s`: 1-2-5 edges are whole numbers of their unit.
fn human(micros: u64) -> String {
    match micros {
        0 => "0".to_owned(),
        us if us < 1000 => format!("{us}µs"),
        us if us < 1_000_000 => format!("{}ms", us / 1000),
        us => format!("{}s", us / 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_five_edges() {
        let floors: Vec<u64> = [0, 1, 3, 7, 10, 19, 20, 49, 50, 99, 120_000].map(one_two_five_floor).to_vec();
        assert_eq!(floors, [0, 1, 2, 5, 10, 10, 20, 20, 50, 50, 100_000]);
        let edges: Vec<u64> = std::iter::successors(Some(0), |&edge| Some(next_one_two_five(edge))).take(8).collect();
        assert_eq!(edges, [0, 1, 2, 5, 10, 20, 50, 100]);
        assert_eq!([human(0), human(500), human(20_000), human(5_000_000)], ["0", "500µs", "20ms", "5s"]);
    }

    #[test]
    fn fine_buckets_are_grouped_with_gaps_kept() {
        let distribution = json!([{"Value": 0.012, "Count": 2}, {"Value": 0.019, "Count": 1},
                                  {"Value": 0.021, "Count": 4}, {"Value": 0.15, "Count": 1}]);
        let buckets = coarse_buckets(&distribution);
        assert_eq!(buckets, [(10_000, 3), (20_000, 4), (50_000, 0), (100_000, 1)]);
        let lines = chart(&buckets);
        let bar = |length: usize| format!("{:<40}", "#".repeat(length));
        assert_eq!(lines[0], format!("    [10ms, 20ms)  {}  3", bar(30)));
        assert_eq!(lines[1], format!("    [20ms, 50ms)  {}  4", bar(40)));
        assert_eq!(lines[2], format!("   [50ms, 100ms)  {}  0", bar(0)));
        assert_eq!(lines[3], format!("  [100ms, 200ms)  {}  1", bar(10)));
        assert_eq!(chart(&[]), ["  (no traces)"]);
    }
}
