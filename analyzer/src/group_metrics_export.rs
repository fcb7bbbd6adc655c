//! The last computed minute of group metrics as Prometheus text, for `/metrics`.
//!
//! ```text
//! fluoro_group_metrics_minute_timestamp_seconds 1700000040
//! fluoro_group_approximate_trace_count{group="Default"} 3
//! fluoro_group_service_requests{group="Default",service="api",type="AWS::EC2::Instance",status="fault"} 1
//! fluoro_group_service_response_time_seconds{group="Default",service="api",type="AWS::EC2::Instance",quantile="0.99"} 0.25
//! ```
//!
//! - All are gauges of one minute (the one the timestamp names): requests are that minute's
//!   count, not a running total. `status` is `ok`, `error`, `throttle` or `fault` (exclusive).
//! - Nodes only, not edges, and at most [`MAX_EXPORTED_NODES`] of them (the busiest first), so
//!   a scrape stays small whatever the graph; the series API has every node and edge.

use std::collections::BTreeMap;
use std::fmt::Write;

use fluoro_proto::MetricPoint;

use crate::group_metrics::{APPROXIMATE_TRACE_COUNT, GROUP_COUNT_METRICS, GROUP_RESPONSE_TIME_METRICS};

/// Group-node pairs exported at most.
pub const MAX_EXPORTED_NODES: usize = 200;
const STATUS_OF_COUNT: [(&str, &str); 4] =
    [("OkCount", "ok"), ("ErrorCount", "error"), ("ThrottleCount", "throttle"), ("FaultCount", "fault")];

/// One node's points: its labels and metric values by name.
type NodeValues = BTreeMap<String, f64>;

/// Prometheus text of one minute's group-metric points (empty when there are none).
pub fn group_metrics_prometheus(points: &[MetricPoint]) -> String {
    let Some(minute_us) = points.iter().map(|point| point.time_us).max() else { return String::new() };
    let mut groups: Vec<(String, f64)> = Vec::new();
    let mut nodes: BTreeMap<[String; 3], NodeValues> = BTreeMap::new();
    for point in points.iter().filter(|point| point.time_us == minute_us) {
        let attributes: BTreeMap<String, String> = serde_json::from_str(&point.attributes).unwrap_or_default();
        let (Some(group), Some(value)) = (attributes.get("GroupName"), point.value) else { continue };
        if point.name == APPROXIMATE_TRACE_COUNT {
            groups.push((group.clone(), value));
            continue;
        }
        let (Some(service), Some(node_type)) = (attributes.get("ServiceName"), attributes.get("ServiceType")) else {
            continue;
        };
        if attributes.contains_key("DestinationName") {
            continue;
        }
        let key = [group.clone(), service.clone(), node_type.clone()];
        nodes.entry(key).or_default().insert(point.name.clone(), value);
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP fluoro_group_metrics_minute_timestamp_seconds Start of the minute the fluoro_group_* values are of."
    );
    let _ = writeln!(text, "# TYPE fluoro_group_metrics_minute_timestamp_seconds gauge");
    let _ = writeln!(text, "fluoro_group_metrics_minute_timestamp_seconds {}", minute_us / 1_000_000);
    let _ =
        writeln!(text, "# HELP fluoro_group_approximate_trace_count Traces of the group that started in the minute.");
    let _ = writeln!(text, "# TYPE fluoro_group_approximate_trace_count gauge");
    for (group, value) in &groups {
        let _ = writeln!(text, "fluoro_group_approximate_trace_count{{group=\"{}\"}} {value}", escape(group));
    }
    let exported = busiest(nodes);
    write_requests(&mut text, &exported);
    write_response_times(&mut text, &exported);
    text
}

/// The [`MAX_EXPORTED_NODES`] nodes with the most requests, in label order.
fn busiest(nodes: BTreeMap<[String; 3], NodeValues>) -> Vec<([String; 3], NodeValues)> {
    let mut nodes: Vec<([String; 3], NodeValues)> = nodes.into_iter().collect();
    let total = |values: &NodeValues| values.get(GROUP_COUNT_METRICS[4]).copied().unwrap_or_default();
    nodes.sort_by(|a, b| total(&b.1).total_cmp(&total(&a.1)).then_with(|| a.0.cmp(&b.0)));
    nodes.truncate(MAX_EXPORTED_NODES);
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    nodes
}

fn write_requests(text: &mut String, nodes: &[([String; 3], NodeValues)]) {
    let _ = writeln!(text, "# HELP fluoro_group_service_requests Requests of the node in the minute, by status class.");
    let _ = writeln!(text, "# TYPE fluoro_group_service_requests gauge");
    for (labels, values) in nodes {
        for (metric, status) in STATUS_OF_COUNT {
            let Some(value) = values.get(metric) else { continue };
            let _ =
                writeln!(text, "fluoro_group_service_requests{{{},status=\"{status}\"}} {value}", node_labels(labels));
        }
    }
}

fn write_response_times(text: &mut String, nodes: &[([String; 3], NodeValues)]) {
    let _ = writeln!(
        text,
        "# HELP fluoro_group_service_response_time_seconds Response-time quantiles of the node in the minute."
    );
    let _ = writeln!(text, "# TYPE fluoro_group_service_response_time_seconds gauge");
    for (labels, values) in nodes {
        for (metric, quantile) in GROUP_RESPONSE_TIME_METRICS {
            let Some(value) = values.get(metric) else { continue };
            let _ = writeln!(
                text,
                "fluoro_group_service_response_time_seconds{{{},quantile=\"{quantile}\"}} {value}",
                node_labels(labels)
            );
        }
    }
}

fn node_labels([group, service, node_type]: &[String; 3]) -> String {
    format!("group=\"{}\",service=\"{}\",type=\"{}\"", escape(group), escape(service), escape(node_type))
}

/// Prometheus label-value escaping: backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
