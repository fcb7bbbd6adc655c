//! `trace map`: the service graph as text — nodes with their type, requests per minute,
//! error/throttle/fault shares and p50/p99, then the edges between them — or as Graphviz DOT,
//! or as a stable JSON shape. From `POST /ServiceGraph` (GetServiceGraph, optionally scoped to a
//! group), or with `--filter` from `POST /TraceGraph` over the traces the filter selects.

use clap::Args;
use serde_json::{json, Value};

use crate::filter::summaries;
use crate::query::{ask, client, QueryArgs, ScopedExpression, EXIT_NONE_MATCHED};
use crate::table::{Align, Row, Table, Terminal};

/// GetTraceGraph takes at most this many trace ids: the traces a `--filter` map is drawn from.
const MAX_TRACE_GRAPH_IDS: usize = 1000;
const SECONDS_PER_MINUTE: f64 = 60.0;

/// Both tables: two names, then counts and latencies.
const GRAPH_ALIGN: &[Align] =
    &[Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right, Align::Right, Align::Right];

const NODE_TABLE: Table<'static> = Table {
    header: &["SERVICE", "TYPE", "REQ/MIN", "ERROR", "THROTTLE", "FAULT", "P50", "P99"],
    align: GRAPH_ALIGN,
    flexible: Some(0),
    coloured: Some(0),
};

const EDGE_TABLE: Table<'static> = Table {
    header: &["FROM", "TO", "REQ/MIN", "ERROR", "THROTTLE", "FAULT", "P50", "P99"],
    align: GRAPH_ALIGN,
    flexible: Some(1),
    coloured: Some(1),
};

/// Show the service map: nodes and edges with request rates, error/fault shares, p50/p99.
///
/// Every node with its type, requests per minute, error, throttle and fault shares and p50/p99
/// response times, then every edge (calls from one node to another) with the same statistics.
/// On a terminal, red: the node or edge has faults; yellow: errors or throttles.
///
/// Percentiles come from the server's response-time histogram (2 significant digits), as on the
/// dashboard's map; shares are of all requests the node handled (or the edge carried).
///
/// Examples:
///   trace map                                         the last hour
///   trace map --since 15m --group slow                a group's map
///   trace map --filter 'service("payments") { fault }'   the map of the traces a filter selects
///   trace map --dot | dot -Tsvg > map.svg             Graphviz
///   trace map --json | jq '.Nodes[] | select(.FaultShare > 0) | .Name'
///
/// JSON shape: {"StartTime", "EndTime", "Nodes": [{"Id", "Name", "Type", "Root", "Requests",
/// "RequestsPerMinute", "ErrorShare", "ThrottleShare", "FaultShare", "P50", "P99"}],
/// "Edges": [{"From", "To", "Requests", "RequestsPerMinute", "ErrorShare", "ThrottleShare",
/// "FaultShare", "P50", "P99"}]}; "From"/"To" are node Ids; nodes by name, edges by (From, To);
/// shares 0–1; P50/P99 in seconds; statistics null for nodes that handle no requests (clients).
///
/// Exit status: 0 nodes found, 1 an empty map, 2 usage error or a rejected expression (shown
/// with a caret under the column), 3 server error or no server.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct MapArgs {
    /// Draw the map of the traces matching this filter expression instead of every trace of
    /// the window: the first --limit of them by start time (default and at most 1000).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Print Graphviz DOT instead of a table.
    #[arg(long, conflicts_with = "json")]
    dot: bool,
    #[command(flatten)]
    query: QueryArgs,
}

pub(crate) async fn run(args: MapArgs) -> anyhow::Result<()> {
    let (start, end) = args.query.window()?;
    let services = match &args.filter {
        Some(filter) => filtered_services(&args, filter, (start, end)).await?,
        None => {
            args.query.refuse_limit("map without --filter");
            let request = json!({"StartTime": start, "EndTime": end, "GroupName": args.query.group});
            let answer = ask(&client(), &args.query.url("/ServiceGraph"), &request).await;
            answer["Services"].as_array().cloned().unwrap_or_default()
        }
    };
    let map = service_map(&services, start, end);
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else if args.dot {
        print!("{}", dot(&map));
    } else {
        print_tables(&map, &Terminal::stdout());
    }
    if services.is_empty() {
        eprintln!("no traces in the window");
        std::process::exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

/// The graph of the traces matching `filter` (within `--group`), from GetTraceGraph.
async fn filtered_services(args: &MapArgs, filter: &str, window: (f64, f64)) -> anyhow::Result<Vec<Value>> {
    let expression = ScopedExpression::new(filter, args.query.group.as_deref());
    let limit = args.query.limit_or(MAX_TRACE_GRAPH_IDS).min(MAX_TRACE_GRAPH_IDS);
    let (found, _, _) = summaries(&args.query, &expression, window, false, limit).await;
    let ids: Vec<&Value> = found.iter().map(|summary| &summary["Id"]).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let answer = ask(&client(), &args.query.url("/TraceGraph"), &json!({"TraceIds": ids})).await;
    Ok(answer["Services"].as_array().cloned().unwrap_or_default())
}

/// The stable JSON shape of `--json` from X-Ray's `Services`.
fn service_map(services: &[Value], start: f64, end: f64) -> Value {
    let minutes = ((end - start) / SECONDS_PER_MINUTE).max(f64::MIN_POSITIVE);
    let name_of = |id: &Value| -> String {
        services
            .iter()
            .find(|service| service["ReferenceId"] == *id)
            .map_or_else(String::new, |service| text(&service["Name"]))
    };
    let mut nodes: Vec<Value> = services
        .iter()
        .map(|service| {
            let mut node = json!({"Id": service["ReferenceId"], "Name": service["Name"], "Type": service["Type"],
                                  "Root": service["Root"] == json!(true)});
            merge(&mut node, statistics(&service["SummaryStatistics"], &service["ResponseTimeHistogram"], minutes));
            node
        })
        .collect();
    nodes.sort_by_key(|node| (text(&node["Name"]), text(&node["Type"])));
    let mut edges: Vec<Value> = services
        .iter()
        .flat_map(|service| {
            service["Edges"].as_array().into_iter().flatten().map(move |edge| {
                let mut row = json!({"From": service["ReferenceId"], "To": edge["ReferenceId"]});
                merge(&mut row, statistics(&edge["SummaryStatistics"], &edge["ResponseTimeHistogram"], minutes));
                row
            })
        })
        .collect();
    edges.sort_by_key(|edge| (name_of(&edge["From"]), name_of(&edge["To"])));
    json!({"StartTime": start, "EndTime": end, "Nodes": nodes, "Edges": edges})
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// Requests, their rate and shares, and percentiles; nulls without statistics (a client).
fn statistics(summary: &Value, histogram: &Value, minutes: f64) -> Value {
    let Some(total) = summary["TotalCount"].as_u64() else {
        return json!({"Requests": null, "RequestsPerMinute": null, "ErrorShare": null, "ThrottleShare": null,
                      "FaultShare": null, "P50": null, "P99": null});
    };
    let share = |count: &Value| if total == 0 { 0.0 } else { count.as_u64().unwrap_or_default() as f64 / total as f64 };
    json!({
        "Requests": total,
        "RequestsPerMinute": total as f64 / minutes,
        "ErrorShare": share(&summary["ErrorStatistics"]["OtherCount"]),
        "ThrottleShare": share(&summary["ErrorStatistics"]["ThrottleCount"]),
        "FaultShare": share(&summary["FaultStatistics"]["TotalCount"]),
        "P50": percentile(histogram, 0.5),
        "P99": percentile(histogram, 0.99),
    })
}

/// The bucket value at which the running count reaches the rank ⌈q·n⌉ (nearest rank), as the
/// dashboard's map computes it; null for an empty histogram.
fn percentile(histogram: &Value, quantile: f64) -> Value {
    let mut buckets: Vec<(f64, u64)> = histogram
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| Some((entry["Value"].as_f64()?, entry["Count"].as_u64()?)))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = buckets.iter().map(|&(_, count)| count).sum();
    if total == 0 {
        return Value::Null;
    }
    let rank = ((quantile * total as f64).ceil() as u64).max(1);
    let mut running = 0;
    for (value, count) in buckets {
        running += count;
        if running >= rank {
            return json!(value);
        }
    }
    Value::Null
}

fn print_tables(map: &Value, terminal: &Terminal) {
    let nodes = map["Nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let rows: Vec<Row> = nodes
        .iter()
        .map(|node| {
            let mut cells = vec![text(&node["Name"]), text(&node["Type"])];
            cells.extend(statistic_cells(node));
            Row { cells, colour: colour(node) }
        })
        .collect();
    for line in NODE_TABLE.render(&rows, terminal) {
        println!("{line}");
    }
    let edges = map["Edges"].as_array().map(Vec::as_slice).unwrap_or_default();
    if edges.is_empty() {
        return;
    }
    // A client node carries the name of the service it called: say which one it is.
    let name = |id: &Value| match nodes.iter().find(|node| node["Id"] == *id) {
        Some(node) if node["Type"] == json!("client") => format!("{} (client)", text(&node["Name"])),
        Some(node) => text(&node["Name"]),
        None => "?".to_owned(),
    };
    let rows: Vec<Row> = edges
        .iter()
        .map(|edge| {
            let mut cells = vec![name(&edge["From"]), format!("→ {}", name(&edge["To"]))];
            cells.extend(statistic_cells(edge));
            Row { cells, colour: colour(edge) }
        })
        .collect();
    println!();
    for line in EDGE_TABLE.render(&rows, terminal) {
        println!("{line}");
    }
}

/// REQ/MIN, ERROR, THROTTLE, FAULT, P50, P99.
fn statistic_cells(row: &Value) -> Vec<String> {
    let Some(rate) = row["RequestsPerMinute"].as_f64() else { return vec!["-".to_owned(); 6] };
    let percent = |share: &Value| format!("{:.1}%", share.as_f64().unwrap_or_default() * 100.0);
    vec![
        format!("{rate:.1}"),
        percent(&row["ErrorShare"]),
        percent(&row["ThrottleShare"]),
        percent(&row["FaultShare"]),
        seconds(&row["P50"]),
        seconds(&row["P99"]),
    ]
}

fn colour(row: &Value) -> Option<&'static str> {
    let positive = |field: &str| row[field].as_f64().is_some_and(|share| share > 0.0);
    if positive("FaultShare") {
        Some("31")
    } else if positive("ErrorShare") || positive("ThrottleShare") {
        Some("33")
    } else {
        None
    }
}

/// `850ms` below a second, `1.250s` from one, `-` without a value.
fn seconds(value: &Value) -> String {
    match value.as_f64() {
        None => "-".to_owned(),
        Some(value) if value < 1.0 => format!("{:.0}ms", value * 1000.0),
        Some(value) => format!("{value:.3}s"),
    }
}

/// Graphviz DOT: nodes by id (`n<Id>`) so that any name is safe, labelled with name, type and
/// rate; edges labelled with their rate; faults red, errors and throttles orange.
fn dot(map: &Value) -> String {
    let mut out = String::from("digraph fluoro {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for node in map["Nodes"].as_array().into_iter().flatten() {
        let mut label = format!("{}\n{}", text(&node["Name"]), text(&node["Type"]));
        if let Some(rate) = node["RequestsPerMinute"].as_f64() {
            label.push_str(&format!("\n{rate:.1}/min"));
        }
        out.push_str(&format!("  n{} [label={}{}];\n", node["Id"], quoted(&label), dot_colour(node)));
    }
    for edge in map["Edges"].as_array().into_iter().flatten() {
        let label = edge["RequestsPerMinute"].as_f64().map_or(String::new(), |rate| format!("{rate:.1}/min"));
        out.push_str(&format!(
            "  n{} -> n{} [label={}{}];\n",
            edge["From"],
            edge["To"],
            quoted(&label),
            dot_colour(edge)
        ));
    }
    out.push_str("}\n");
    out
}

fn dot_colour(row: &Value) -> &'static str {
    match colour(row) {
        Some("31") => ", color=red",
        Some(_) => ", color=orange",
        None => "",
    }
}

/// A DOT quoted string: `"` and `\` escaped, line breaks as `\n` (a centred line in a label).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_buckets() {
        let histogram = json!([{"Value": 0.2, "Count": 1}, {"Value": 0.01, "Count": 98}, {"Value": 1.5, "Count": 1}]);
        assert_eq!(percentile(&histogram, 0.5), json!(0.01));
        assert_eq!(percentile(&histogram, 0.99), json!(0.2));
        assert_eq!(percentile(&json!([]), 0.5), Value::Null);
    }

    #[test]
    fn dot_quotes_every_name() {
        let services = json!([
            {"ReferenceId": 0, "Name": "we\"b\\", "Type": "client", "Edges": [{"ReferenceId": 1,
             "SummaryStatistics": {"TotalCount": 60, "ErrorStatistics": {"OtherCount": 0, "ThrottleCount": 0},
                                   "FaultStatistics": {"TotalCount": 6}}, "ResponseTimeHistogram": []}]},
            {"ReferenceId": 1, "Name": "a\nb", "Type": "AWS::EC2::Instance", "Edges": []},
        ]);
        let map = service_map(services.as_array().unwrap(), 0.0, 600.0);
        assert_eq!(map["Edges"][0]["RequestsPerMinute"], json!(6.0));
        assert_eq!(map["Edges"][0]["FaultShare"], json!(0.1));
        let dot = dot(&map);
        assert!(dot.contains("  n0 [label=\"we\\\"b\\\\\\nclient\"];\n"), "{dot}");
        assert!(dot.contains("  n1 [label=\"a\\nb\\nAWS::EC2::Instance\"];\n"), "{dot}");
        assert!(dot.contains("  n0 -> n1 [label=\"6.0/min\", color=red];\n"), "{dot}");
    }
}
