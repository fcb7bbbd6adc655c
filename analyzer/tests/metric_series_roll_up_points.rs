//! Metric series roll raw points up by period: gauges as they are, cumulative counters as
//! increases per series (with resets), histograms by their merged buckets; and a service's
//! resources line up with its request statistics from the traces, bucket by bucket.

use fluoro_analyzer::{
    metric_series, service_resources, MetricSeriesQuery, ResourcesQuery, ServiceResources, Statistic,
};
use fluoro_proto::{Durability, HistogramValue, MetricBatch, MetricKind, MetricPoint};
use fluoro_store::Store;

use crate::petstore::{self, at_us};

fn point(seconds: f64, start: f64, name: &str, kind: MetricKind, attributes: &str, value: f64) -> MetricPoint {
    MetricPoint {
        time_us: at_us(seconds),
        start_us: if start.is_nan() { 0 } else { at_us(start) },
        service: "petsite".to_owned(),
        name: name.to_owned(),
        unit: if kind == MetricKind::Gauge { "By" } else { "s" }.to_owned(),
        kind,
        attributes: attributes.to_owned(),
        value: Some(value),
        histogram: None,
    }
}

/// CPU time by state (user from long before the window; system reset at +150 s), memory, and
/// one histogram point.
fn write_metrics(store: &Store) {
    const USER: &str = r#"{"state":"user"}"#;
    const SYSTEM: &str = r#"{"state":"system"}"#;
    let cpu = |seconds: f64, start: f64, state: &str, value: f64| {
        point(seconds, start, "process.cpu.time", MetricKind::CumulativeSum, state, value)
    };
    let memory =
        |seconds: f64, value: f64| point(seconds, f64::NAN, "process.memory.usage", MetricKind::Gauge, "{}", value);
    let mut points = vec![
        cpu(-60.0, -3600.0, USER, 70.0), // the baseline, read from before the range
        cpu(0.0, -3600.0, USER, 100.0),
        cpu(60.0, -3600.0, USER, 130.0),
        cpu(120.0, -3600.0, USER, 160.0),
        cpu(180.0, -3600.0, USER, 190.0),
        cpu(-60.0, -3600.0, SYSTEM, 44.0),
        cpu(0.0, -3600.0, SYSTEM, 50.0),
        cpu(60.0, -3600.0, SYSTEM, 56.0),
        cpu(120.0, -3600.0, SYSTEM, 62.0),
        cpu(180.0, 150.0, SYSTEM, 3.0), // restarted at +150 s
        memory(10.0, 100e6),
        memory(20.0, 200e6),
        memory(70.0, 300e6),
    ];
    points.push(MetricPoint {
        value: None,
        histogram: Some(HistogramValue {
            count: 4,
            sum: Some(1.0),
            min: Some(0.05),
            max: Some(0.9),
            bounds: vec![0.1, 0.5],
            counts: vec![1, 2, 1],
        }),
        ..point(30.0, 0.0, "http.server.duration", MetricKind::DeltaHistogram, "{}", 0.0)
    });
    store.write_metrics(MetricBatch { points, durability: Durability::Acknowledged }).unwrap();
}

fn query(name: &str, statistic: Statistic) -> MetricSeriesQuery {
    MetricSeriesQuery {
        service: "petsite".to_owned(),
        name: name.to_owned(),
        attributes: Vec::new(),
        from_us: at_us(0.0),
        to_us: at_us(240.0),
        period_seconds: Some(60),
        statistic,
    }
}

fn values(store: &Store, query: &MetricSeriesQuery) -> Vec<Option<f64>> {
    let series = metric_series(store, query).unwrap();
    series.values.iter().map(|value| value.value.map(|v| (v * 1e6).round() / 1e6)).collect()
}

#[test]
fn cumulative_counters_become_rates_per_series_with_resets() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::open(dir.path());
    write_metrics(&store);
    // user +30 and system +6 per minute; at +180 s system restarted and counted 3 since.
    assert_eq!(
        values(&store, &query("process.cpu.time", Statistic::Avg)),
        [Some(0.6), Some(0.6), Some(0.6), Some(0.55)]
    );
    assert_eq!(
        values(&store, &query("process.cpu.time", Statistic::Sum)),
        [Some(36.0), Some(36.0), Some(36.0), Some(33.0)]
    );
    assert_eq!(values(&store, &query("process.cpu.time", Statistic::Max))[0], Some(0.5), "user's 30 s per 60 s");
    assert_eq!(values(&store, &query("process.cpu.time", Statistic::Count))[0], Some(2.0));
    let user = MetricSeriesQuery {
        attributes: vec![("state".into(), "user".into())],
        ..query("process.cpu.time", Statistic::Sum)
    };
    assert_eq!(values(&store, &user), [Some(30.0); 4]);
    let series = metric_series(&store, &query("process.cpu.time", Statistic::Avg)).unwrap();
    assert_eq!((series.series_count, series.kind, series.unit.as_deref()), (2, Some("sum_cumulative"), Some("s")));
}

#[test]
fn gauges_and_histograms_have_their_own_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::open(dir.path());
    write_metrics(&store);
    assert_eq!(values(&store, &query("process.memory.usage", Statistic::Avg)), [Some(150e6), Some(300e6), None, None]);
    assert_eq!(values(&store, &query("process.memory.usage", Statistic::Max))[0], Some(200e6));
    let latency = |statistic| values(&store, &query("http.server.duration", statistic))[0];
    assert_eq!(
        [latency(Statistic::Count), latency(Statistic::Avg), latency(Statistic::P50), latency(Statistic::P99)],
        [Some(4.0), Some(0.25), Some(0.3), Some(0.884)]
    );
    assert_eq!((latency(Statistic::Min), latency(Statistic::Max)), (Some(0.05), Some(0.9)));

    let raw = metric_series(
        &store,
        &MetricSeriesQuery { period_seconds: None, ..query("process.memory.usage", Statistic::Avg) },
    )
    .unwrap();
    let raw: Vec<(f64, Option<f64>)> =
        raw.values.iter().map(|value| (value.timestamp - petstore::BASE, value.value)).collect();
    assert_eq!(raw, [(10.0, Some(100e6)), (20.0, Some(200e6)), (70.0, Some(300e6))]);
}

#[test]
fn wrong_statistics_and_periods_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::open(dir.path());
    write_metrics(&store);
    let error = metric_series(&store, &query("process.memory.usage", Statistic::P99)).unwrap_err().to_string();
    assert_eq!(
        error,
        "Statistic P99 needs a histogram; \"process.memory.usage\" is a gauge: use avg, min, max, sum or count"
    );
    let error = metric_series(&store, &MetricSeriesQuery { period_seconds: Some(90), ..query("x", Statistic::Avg) });
    assert!(error.unwrap_err().to_string().starts_with("Period 90 is not supported"));
    let error = "median".parse::<Statistic>().unwrap_err().to_string();
    assert!(error.starts_with("Statistic \"median\" is not known"), "{error}");
    let unknown = metric_series(&store, &query("no.such.metric", Statistic::Avg)).unwrap();
    assert_eq!((unknown.series_count, unknown.values.len()), (0, 4), "an unknown metric is empty buckets");
}

#[test]
fn resources_line_up_with_the_traces_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore::petstore(dir.path());
    write_metrics(&store);
    let query =
        ResourcesQuery { service: "petsite".into(), from_us: at_us(0.0), to_us: at_us(300.0), period_seconds: 60 };

    let view: ServiceResources = service_resources(&store, &query).unwrap();

    assert_eq!(view.cpu_source.as_ref().map(|source| source.metric.as_str()), Some("process.cpu.time"));
    assert_eq!(view.memory_source.as_ref().map(|source| source.unit.as_str()), Some("By"));
    let requests: Vec<u64> = view.buckets.iter().map(|bucket| bucket.requests).collect();
    assert_eq!(requests, [6, 6, 6, 2, 0], "a trace every 10 s for 200 s");
    let cpu: Vec<Option<f64>> = view.buckets.iter().map(|b| b.cpu.map(|v| (v * 1e6).round() / 1e6)).collect();
    assert_eq!(cpu, [Some(0.6), Some(0.6), Some(0.6), Some(0.55), None]);
    let memory: Vec<Option<f64>> = view.buckets.iter().map(|bucket| bucket.memory).collect();
    assert_eq!(memory, [Some(150e6), Some(300e6), None, None, None]);
    assert_eq!(view.buckets[0].request_rate, 0.1);
    let faults: f64 = view.buckets.iter().filter_map(|b| b.fault_rate.map(|rate| rate * b.requests as f64)).sum();
    assert!((faults - 1.0).abs() < 1e-9, "the one fault of the petstore: {faults}");
    assert!(view.buckets[0].latency_avg.is_some_and(|avg| avg > 0.0));
    assert!(view.buckets[0].latency_p99 >= view.buckets[0].latency_avg);
    assert_eq!((view.buckets[4].latency_avg, view.buckets[4].fault_rate), (None, None));
}
