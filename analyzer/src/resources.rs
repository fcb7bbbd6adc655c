//! One service's resources next to its requests: process CPU and resident memory from its
//! metrics, and request rate, fault rate and latency from its traces, over the same buckets
//! (those of `time_series.rs`, which computes the trace side).
//!
//! Which metrics are read, the first found in the range winning:
//!
//! | value | metrics | statistic |
//! |---|---|---|
//! | CPU, in cores (CPU seconds per second) | `process.cpu.time` (OpenTelemetry semantic conventions), `process.runtime.cpython.cpu_time` (the Python SDK's system-metrics instrumentation), `process.runtime.jvm.cpu.time`, `process.runtime.go.cpu.time` — cumulative seconds, every `state` together | `avg` (increase per second) |
//! | resident memory, bytes | `process.memory.usage` (semantic conventions), `process.runtime.cpython.memory` with `type = rss` (Python system metrics), `process.runtime.jvm.memory.usage`, `runtime.go.mem.heap_alloc` | `avg` |
//!
//! From the traces, for the service's node (`service("name")`, as the service map and
//! `GetTimeSeriesServiceStatistics` count it): requests per second, the fraction of requests
//! that were faults (5xx), and the mean and p99 response time in seconds.

use serde::Serialize;

use crate::error::Result;
use crate::metric_series::{metric_series, validate_metric_period, MetricSeriesQuery, Statistic};
use crate::service_graph::window_observations;
use crate::time_series::{time_series_of_observations, EntitySelector, TimeSeriesPoint};

/// CPU time metrics, most standard first, with the attribute filter each needs.
const CPU_METRICS: [(&str, Option<(&str, &str)>); 4] = [
    ("process.cpu.time", None),
    ("process.runtime.cpython.cpu_time", None),
    ("process.runtime.jvm.cpu.time", None),
    ("process.runtime.go.cpu.time", None),
];
/// Resident memory metrics, most standard first.
const MEMORY_METRICS: [(&str, Option<(&str, &str)>); 4] = [
    ("process.memory.usage", None),
    ("process.runtime.cpython.memory", Some(("type", "rss"))),
    ("process.runtime.jvm.memory.usage", None),
    ("runtime.go.mem.heap_alloc", None),
];

/// The resources request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcesQuery {
    pub service: String,
    pub from_us: i64,
    pub to_us: i64,
    pub period_seconds: u32,
}

/// Which metric a resource column was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceSource {
    pub metric: String,
    pub unit: String,
}

/// One bucket of the view; `None` where nothing was measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceBucket {
    /// The bucket's start, epoch seconds.
    pub timestamp: f64,
    /// Cores in use (CPU seconds per second).
    pub cpu: Option<f64>,
    /// Resident memory, bytes.
    pub memory: Option<f64>,
    pub requests: u64,
    /// Requests per second.
    pub request_rate: f64,
    /// Faults / requests.
    pub fault_rate: Option<f64>,
    /// Seconds.
    pub latency_avg: Option<f64>,
    pub latency_p99: Option<f64>,
}

/// A service's resources and requests, bucket by bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceResources {
    pub service: String,
    pub period: u32,
    pub cpu_source: Option<ResourceSource>,
    pub memory_source: Option<ResourceSource>,
    pub buckets: Vec<ResourceBucket>,
}

/// The view `query` asks for.
pub fn service_resources(store: &fluoro_store::Store, query: &ResourcesQuery) -> Result<ServiceResources> {
    let period = validate_metric_period(query.period_seconds, query.from_us, query.to_us)?;
    let period_us = i64::from(period) * 1_000_000;
    let (cpu_source, cpu) = first_resource(store, query, &CPU_METRICS)?;
    let (memory_source, memory) = first_resource(store, query, &MEMORY_METRICS)?;
    let observations = window_observations(store, query.from_us, query.to_us, None)?;
    let node = EntitySelector::Node { name: Some(query.service.clone()), node_type: None };
    let traffic = time_series_of_observations(&observations, query.from_us, query.to_us, &node, period_us)?;
    let seconds = f64::from(period);
    let buckets = traffic
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let value_at = |values: &[Option<f64>]| values.get(index).copied().flatten();
            bucket_of(point, seconds, value_at(&cpu), value_at(&memory))
        })
        .collect();
    Ok(ServiceResources { service: query.service.clone(), period, cpu_source, memory_source, buckets })
}

fn bucket_of(point: &TimeSeriesPoint, seconds: f64, cpu: Option<f64>, memory: Option<f64>) -> ResourceBucket {
    let statistics = point.service_summary_statistics.unwrap_or_default();
    let requests = statistics.total_count;
    let per_request = |value: f64| (requests > 0).then(|| value / requests as f64);
    ResourceBucket {
        timestamp: point.timestamp,
        cpu,
        memory,
        requests,
        request_rate: requests as f64 / seconds,
        fault_rate: per_request(statistics.fault_statistics.total_count as f64),
        latency_avg: per_request(statistics.total_response_time),
        latency_p99: point.response_time.quantile_micros(0.99).map(|us| us as f64 / 1e6),
    }
}

/// The first of `candidates` with points in the range: where it came from, and its `avg` per bucket.
fn first_resource(
    store: &fluoro_store::Store,
    query: &ResourcesQuery,
    candidates: &[(&str, Option<(&str, &str)>)],
) -> Result<(Option<ResourceSource>, Vec<Option<f64>>)> {
    for (name, filter) in candidates {
        let series = metric_series(
            store,
            &MetricSeriesQuery {
                service: query.service.clone(),
                name: (*name).to_owned(),
                attributes: filter.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
                from_us: query.from_us,
                to_us: query.to_us,
                period_seconds: Some(query.period_seconds),
                statistic: Statistic::Avg,
            },
        )?;
        if series.values.iter().any(|value| value.value.is_some()) {
            let source = ResourceSource { metric: series.name, unit: series.unit.unwrap_or_default() };
            return Ok((Some(source), series.values.into_iter().map(|value| value.value).collect()));
        }
    }
    Ok((None, Vec::new()))
}
