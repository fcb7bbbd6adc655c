//! `trace get ID…`: traces from the server's `POST /Traces` (BatchGetTraces) as indented trees
//! of spans aligned like a waterfall, or as a stable JSON shape of the same spans.

use std::process::exit;

use clap::Args;
use serde_json::{json, Value};

use crate::query::{ask, client, EndpointArgs, EXIT_NONE_MATCHED};
use crate::table::Terminal;

/// Characters of the waterfall's timeline column.
const BAR_WIDTH: usize = 30;

/// BatchGetTraces takes at most this many ids per request.
const IDS_PER_REQUEST: usize = 5;

/// Show traces as trees of spans: service, name, start offset, duration, status, the
/// fault/error/throttle marks and the exception message, with a waterfall of when each ran.
///
/// Each segment and subsegment is one line, indented under its parent; a segment another
/// service sent (a downstream call) hangs under the subsegment that called it. STATUS is the
/// HTTP status with `fault` (5xx, or the span's fault flag), `error` (4xx) or `throttle` (429).
///
/// Examples:
///   trace get 1-5759e988-bd862e3fe1be46a994272793          one trace
///   trace get 5759e988bd862e3fe1be46a994272793 ID2 ID3     W3C ids too, several at once
///   trace get ID --full                                    with annotations, http, aws and sql fields
///   trace get ID --json                                    the spans as JSON, for scripts
///   trace get $(trace filter fault --json | jq -r '.[0].Id')
///
/// JSON shape: {"Traces": [{"Id", "Duration", "Spans": [{"Id", "ParentId", "Depth", "Service",
/// "Name", "Origin", "StartTime", "Offset", "Duration", "HttpStatus", "Fault", "Error",
/// "Throttle", "InProgress", "Exception", "Annotations", "Http", "Aws", "Sql"}]}],
/// "UnprocessedTraceIds": [id]}; spans in tree order (parents first, siblings by start).
///
/// Exit status: 0 when every trace was found, 1 when one or more were not, 2 on a usage error
/// or a request the server rejects, 3 when the server fails or cannot be reached.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct GetArgs {
    /// Trace ids, X-Ray (1-5759e988-bd862e3fe1be46a994272793) or W3C (32 hex digits).
    #[arg(required = true)]
    ids: Vec<String>,
    /// Also print each span's annotations, http, aws and sql fields.
    #[arg(long)]
    full: bool,
    /// Print the traces as JSON instead of trees.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

pub(crate) async fn run(args: GetArgs) -> anyhow::Result<()> {
    let client = client();
    let url = args.endpoint.url("/Traces");
    let mut traces = Vec::new();
    let mut missing: Vec<Value> = Vec::new();
    for ids in args.ids.chunks(IDS_PER_REQUEST) {
        let answer = ask(&client, &url, &json!({"TraceIds": ids})).await;
        traces.extend(answer["Traces"].as_array().cloned().unwrap_or_default().iter().map(trace_spans));
        missing.extend(answer["UnprocessedTraceIds"].as_array().cloned().unwrap_or_default());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"Traces": traces, "UnprocessedTraceIds": missing}))?);
    } else {
        let colour = Terminal::stdout().colour;
        for (index, trace) in traces.iter().enumerate() {
            if index > 0 {
                println!();
            }
            for line in waterfall(trace, args.full, colour) {
                println!("{line}");
            }
        }
    }
    for id in &missing {
        eprintln!("trace {} not found", id.as_str().unwrap_or("?"));
    }
    if !missing.is_empty() || traces.is_empty() {
        exit(EXIT_NONE_MATCHED);
    }
    Ok(())
}

/// One span, flattened out of the segment documents.
struct Span {
    document: Value,
    parent: Option<String>,
    service: String,
}

/// `{"Id", "Duration", "Spans"}` from a BatchGetTraces trace: every segment and subsegment of
/// its documents, in tree order.
fn trace_spans(trace: &Value) -> Value {
    let mut spans = Vec::new();
    for segment in trace["Segments"].as_array().into_iter().flatten() {
        let Some(document) = segment["Document"].as_str().and_then(|text| serde_json::from_str(text).ok()) else {
            continue;
        };
        flatten(document, None, &mut spans);
    }
    let trace_start = spans.iter().filter_map(|span| span.document["start_time"].as_f64()).reduce(f64::min);
    let mut ordered = Vec::new();
    let ids: Vec<String> = spans.iter().map(|span| text(&span.document["id"])).collect();
    // Roots: no parent, or a parent not in this trace (its segment was not sent or sampled).
    let roots: Vec<usize> = (0..spans.len())
        .filter(|&index| spans[index].parent.as_ref().is_none_or(|parent| !ids.contains(parent)))
        .collect();
    let mut visited = vec![false; spans.len()];
    for root in by_start(&spans, roots) {
        visit(&spans, &ids, root, 0, &mut visited, &mut ordered);
    }
    let spans: Vec<Value> =
        ordered.into_iter().map(|(index, depth)| span_json(&spans[index], depth, trace_start)).collect();
    json!({"Id": trace["Id"], "Duration": trace["Duration"], "Spans": spans})
}

/// The span and its subsegments, each subsegment knowing its parent and its service.
fn flatten(mut document: Value, enclosing: Option<(&str, &str)>, spans: &mut Vec<Span>) {
    let children = document.get_mut("subsegments").map(Value::take);
    let parent = match enclosing {
        Some((parent, _)) => Some(parent.to_owned()),
        None => document["parent_id"].as_str().map(str::to_owned),
    };
    let service = enclosing.map_or_else(|| text(&document["name"]), |(_, service)| service.to_owned());
    let id = text(&document["id"]);
    spans.push(Span { document, parent, service: service.clone() });
    for child in children.as_ref().and_then(Value::as_array).into_iter().flatten() {
        flatten(child.clone(), Some((&id, &service)), spans);
    }
}

/// Depth-first, children by start time; a span seen twice (a cycle of parent ids) is skipped.
fn visit(
    spans: &[Span],
    ids: &[String],
    index: usize,
    depth: usize,
    visited: &mut [bool],
    ordered: &mut Vec<(usize, usize)>,
) {
    if std::mem::replace(&mut visited[index], true) {
        return;
    }
    ordered.push((index, depth));
    let children: Vec<usize> =
        (0..spans.len()).filter(|&child| spans[child].parent.as_deref() == Some(ids[index].as_str())).collect();
    for child in by_start(spans, children) {
        visit(spans, ids, child, depth + 1, visited, ordered);
    }
}

fn by_start(spans: &[Span], mut indexes: Vec<usize>) -> Vec<usize> {
    let start = |index: &usize| spans[*index].document["start_time"].as_f64().unwrap_or(f64::MAX);
    indexes.sort_by(|a, b| start(a).total_cmp(&start(b)));
    indexes
}

fn span_json(span: &Span, depth: usize, trace_start: Option<f64>) -> Value {
    let document = &span.document;
    let start = document["start_time"].as_f64();
    let duration = match (start, document["end_time"].as_f64()) {
        (Some(start), Some(end)) => json!(end - start),
        _ => Value::Null,
    };
    let offset = match (start, trace_start) {
        (Some(start), Some(trace_start)) => json!(start - trace_start),
        _ => Value::Null,
    };
    let fields = |name: &str| document.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "Id": document["id"], "ParentId": span.parent, "Depth": depth, "Service": span.service,
        "Name": document["name"], "Origin": document["origin"], "StartTime": document["start_time"],
        "Offset": offset, "Duration": duration, "HttpStatus": document["http"]["response"]["status"],
        "Fault": document["fault"] == json!(true), "Error": document["error"] == json!(true),
        "Throttle": document["throttle"] == json!(true), "InProgress": document["in_progress"] == json!(true),
        "Exception": exception(document), "Annotations": fields("annotations"), "Http": fields("http"),
        "Aws": fields("aws"), "Sql": fields("sql"),
    })
}

/// The first exception's `type: message`, or null.
fn exception(document: &Value) -> Value {
    let exceptions = document["cause"]["exceptions"].as_array();
    let Some(first) = exceptions.and_then(|list| list.first()) else { return Value::Null };
    match (first["type"].as_str(), first["message"].as_str()) {
        (Some(kind), Some(message)) => json!(format!("{kind}: {message}")),
        (None, Some(message)) => json!(message),
        (Some(kind), None) => json!(kind),
        (None, None) => Value::Null,
    }
}

/// The header line, the column titles and one line per span (plus its fields with `full`).
fn waterfall(trace: &Value, full: bool, colour: bool) -> Vec<String> {
    let spans = trace["Spans"].as_array().map(Vec::as_slice).unwrap_or_default();
    let total = trace["Duration"]
        .as_f64()
        .or_else(|| {
            spans.iter().filter_map(|span| Some(span["Offset"].as_f64()? + span["Duration"].as_f64()?)).reduce(f64::max)
        })
        .unwrap_or_default();
    let mut lines = vec![format!("{}  {}  {} spans", text(&trace["Id"]), seconds(Some(total)), spans.len())];
    let header = ["NAME", "SERVICE", "START", "DURATION", "STATUS", "TIMELINE", "EXCEPTION"].map(str::to_owned);
    let rows: Vec<[String; 7]> = spans.iter().map(|span| row(span, total)).collect();
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for cells in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let join = |cells: &[String; 7], paint: Option<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                let cell = format!("{cell:<width$}");
                match paint {
                    Some(code) if column == 4 => format!("\x1b[{code}m{cell}\x1b[0m"),
                    _ => cell,
                }
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    lines.push(join(&header, None));
    for (span, cells) in spans.iter().zip(&rows) {
        let paint = colour.then(|| status_colour(span)).flatten();
        lines.push(join(cells, paint));
        if full {
            let indent = " ".repeat(2 * span["Depth"].as_u64().unwrap_or_default() as usize + 4);
            for field in ["Annotations", "Http", "Aws", "Sql"] {
                if !span[field].is_null() {
                    lines.push(format!("{indent}{}: {}", field.to_lowercase(), span[field]));
                }
            }
        }
    }
    lines
}

fn row(span: &Value, total: f64) -> [String; 7] {
    let depth = span["Depth"].as_u64().unwrap_or_default() as usize;
    let offset = span["Offset"].as_f64();
    let mut duration = seconds(span["Duration"].as_f64());
    if span["InProgress"] == json!(true) {
        duration = "in progress".to_owned();
    }
    [
        format!("{}{}", "  ".repeat(depth), text(&span["Name"])),
        text(&span["Service"]),
        offset.map_or("-".to_owned(), |offset| format!("+{}", seconds(Some(offset)))),
        duration,
        status(span),
        bar(offset, span["Duration"].as_f64(), total),
        span["Exception"].as_str().unwrap_or_default().replace('\n', "\\n"),
    ]
}

/// `503 fault`, `error`, `ok`: the HTTP status and the worst mark.
fn status(span: &Value) -> String {
    let code = span["HttpStatus"].as_u64().map(|code| code.to_string());
    let mark = [("Fault", "fault"), ("Throttle", "throttle"), ("Error", "error")]
        .into_iter()
        .find(|(field, _)| span[field] == json!(true))
        .map(|(_, mark)| mark);
    match (code, mark) {
        (Some(code), Some(mark)) => format!("{code} {mark}"),
        (Some(code), None) => code,
        (None, Some(mark)) => mark.to_owned(),
        (None, None) => "ok".to_owned(),
    }
}

/// Red for a fault, yellow for an error or throttle.
fn status_colour(span: &Value) -> Option<&'static str> {
    if span["Fault"] == json!(true) {
        Some("31")
    } else if span["Error"] == json!(true) || span["Throttle"] == json!(true) {
        Some("33")
    } else {
        None
    }
}

/// `|   ====      |`: where in the trace the span ran; at least one `=` for a span that ran.
fn bar(offset: Option<f64>, duration: Option<f64>, total: f64) -> String {
    let (Some(offset), Some(duration)) = (offset, duration) else { return format!("|{:BAR_WIDTH$}|", "") };
    let scale = if total > 0.0 { BAR_WIDTH as f64 / total } else { 0.0 };
    let begin = ((offset * scale).round() as usize).min(BAR_WIDTH - 1);
    let length = ((duration * scale).round() as usize).clamp(1, BAR_WIDTH - begin);
    format!("|{}{}{}|", " ".repeat(begin), "=".repeat(length), " ".repeat(BAR_WIDTH - begin - length))
}

/// `850ms` below a second, `1.250s` from one.
fn seconds(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(value) if value < 1.0 => format!("{:.0}ms", value * 1000.0),
        Some(value) => format!("{value:.3}s"),
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(list: &[Value]) -> Value {
        let segments: Vec<Value> = list.iter().map(|document| json!({"Document": document.to_string()})).collect();
        json!({"Id": "1-00000001-000000000000000000000001", "Duration": 1.0, "Segments": segments})
    }

    #[test]
    fn downstream_segments_hang_under_the_subsegment_that_called_them() {
        let web = json!({"id": "a", "name": "web", "start_time": 10.0, "end_time": 11.0, "fault": true,
                         "http": {"response": {"status": 502}},
                         "subsegments": [{"id": "b", "name": "payments", "start_time": 10.2, "end_time": 10.9}]});
        let payments = json!({"id": "c", "parent_id": "b", "name": "payments", "start_time": 10.25, "end_time": 10.85,
                              "cause": {"exceptions": [{"type": "Timeout", "message": "db"}]}});
        let trace = trace_spans(&documents(&[payments, web]));
        let spans = trace["Spans"].as_array().unwrap();
        let order: Vec<(&Value, &Value, &Value)> =
            spans.iter().map(|span| (&span["Id"], &span["Depth"], &span["Service"])).collect();
        assert_eq!(
            order,
            [
                (&json!("a"), &json!(0), &json!("web")),
                (&json!("b"), &json!(1), &json!("web")),
                (&json!("c"), &json!(2), &json!("payments"))
            ]
        );
        assert_eq!(spans[2]["Exception"], "Timeout: db");
        let lines = waterfall(&trace, false, false);
        assert_eq!(lines[0], "1-00000001-000000000000000000000001  1.000s  3 spans");
        assert!(lines[2].starts_with("web       "), "{lines:#?}");
        assert!(lines[2].contains("502 fault") && lines[2].contains(&format!("|{}|", "=".repeat(30))), "{lines:#?}");
        assert!(lines[4].starts_with("    payments") && lines[4].ends_with("Timeout: db"), "{lines:#?}");
    }

    #[test]
    fn bars_stay_inside_the_timeline() {
        assert_eq!(bar(Some(0.5), Some(0.0), 1.0), format!("|{}={}|", " ".repeat(15), " ".repeat(14)));
        assert_eq!(
            bar(Some(0.299_999), Some(0.5), 1.0),
            format!("|{}{}{}|", " ".repeat(9), "=".repeat(15), " ".repeat(6))
        );
        assert_eq!(bar(Some(1.0), Some(0.5), 1.0), format!("|{}=|", " ".repeat(29)));
        assert_eq!(bar(None, None, 1.0).chars().count(), 32);
        assert_eq!([seconds(Some(0.25)), seconds(Some(2.0))], ["250ms", "2.000s"]);
    }
}
