//! OTLP metric exporters (the OpenTelemetry Python SDK's, over gRPC and HTTP, and plain clients
//! sending protobuf) get their data points kept as rows; a summary or exponential histogram is
//! counted as unsupported, a malformed point as invalid, and both reported as a partial success
//! while the rest is kept.

use std::io::Write as _;
use std::sync::Arc;

use crate::otlp_exporters_are_received::{run_python, Receivers};
use fluoro_collector::{Counters, Ingest, MemorySink, RejectReason, Source};
use fluoro_proto::{MetricBatch, MetricKind, MetricPoint, MetricSink, SinkError};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics,
};
use parking_lot::Mutex;
use prost::Message as _;

const TIME: u64 = 1_700_000_000_000_000_000;

/// Keeps every data point it is given, as the store would.
#[derive(Debug, Default)]
struct KeptPoints(Mutex<Vec<MetricPoint>>);

impl MetricSink for KeptPoints {
    fn write_metrics(&self, batch: MetricBatch) -> Result<(), SinkError> {
        self.0.lock().extend(batch.points);
        Ok(())
    }
}

async fn start_receivers(points: Arc<KeptPoints>) -> Receivers {
    let ingest = Ingest::new(Arc::new(MemorySink::new(1000)), Arc::new(Counters::new())).with_metric_sink(points);
    Receivers::serve(ingest).await
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_metric_exporters_over_grpc_and_http_are_received() {
    for (protocol, source) in [("grpc", Source::OtlpGrpcMetrics), ("http", Source::OtlpHttpMetrics)] {
        let points = Arc::new(KeptPoints::default());
        let receivers = start_receivers(points.clone()).await;
        let endpoint = match protocol {
            "grpc" => format!("http://{}", receivers.grpc),
            _ => format!("http://{}", receivers.http),
        };
        run_python("otlp_metrics.py", vec![protocol.to_owned(), endpoint, "orders".to_owned()]).await;

        let rows = points.0.lock().clone();
        let mut seen: Vec<(&str, MetricKind, &str)> =
            rows.iter().map(|p| (p.name.as_str(), p.kind, p.attributes.as_str())).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen,
            [
                ("http.server.duration", MetricKind::CumulativeHistogram, "{}"),
                ("orders.placed", MetricKind::CumulativeSum, r#"{"route":"/orders"}"#),
                ("process.cpu.time", MetricKind::CumulativeSum, r#"{"state":"system"}"#),
                ("process.cpu.time", MetricKind::CumulativeSum, r#"{"state":"user"}"#),
                ("process.memory.usage", MetricKind::Gauge, "{}"),
            ],
            "{protocol}"
        );
        assert!(rows.iter().all(|p| p.service == "orders" && p.time_us > 0));
        let orders: Vec<f64> = rows.iter().filter(|p| p.name == "orders.placed").filter_map(|p| p.value).collect();
        assert_eq!(orders, [3.0, 7.0], "cumulative, as the SDK sends a counter");
        let histogram = rows.iter().find_map(|p| p.histogram.as_ref()).unwrap();
        assert_eq!((histogram.count, histogram.bounds.as_slice()), (4, [0.1, 0.25, 0.5, 1.0].as_slice()));
        assert_eq!(histogram.counts, [1, 1, 1, 1, 0]);
        assert_eq!((receivers.counters().received(source), receivers.counters().accepted(source)), (10, 10));
        assert_eq!(
            receivers.counters().accepted(Source::OtlpGrpc) + receivers.counters().accepted(Source::OtlpHttp),
            3
        );
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn gauge(name: &str, value: Option<Value>) -> Metric {
    let point = NumberDataPoint { time_unix_nano: TIME, value, ..Default::default() };
    Metric { name: name.to_owned(), data: Some(Data::Gauge(Gauge { data_points: vec![point] })), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_and_malformed_points_are_a_counted_partial_success() {
    let points = Arc::new(KeptPoints::default());
    let receivers = start_receivers(points.clone()).await;
    let exponential = Metric {
        name: "rpc.latency".to_owned(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint { time_unix_nano: TIME, ..Default::default() }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let export = request(vec![exponential, gauge("queue.depth", Some(Value::AsInt(12))), gauge("broken", None)]);

    let mut client = MetricsServiceClient::connect(format!("http://{}", receivers.grpc)).await.unwrap();
    let answer = client.export(export).await.unwrap().into_inner();

    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert!(partial.error_message.starts_with("2 of 3 data points rejected"), "{}", partial.error_message);
    assert!(partial.error_message.contains("exponential histogram metrics are not supported"));
    assert!(partial.error_message.contains("the data point has no value"));
    let kept: Vec<(String, Option<f64>)> = points.0.lock().iter().map(|p| (p.name.clone(), p.value)).collect();
    assert_eq!(kept, [("queue.depth".to_owned(), Some(12.0))]);
    let counters = receivers.counters();
    assert_eq!(counters.rejected(Source::OtlpGrpcMetrics, RejectReason::Unsupported), 1);
    assert_eq!(counters.rejected(Source::OtlpGrpcMetrics, RejectReason::Invalid), 1);
    assert_eq!((counters.received(Source::OtlpGrpcMetrics), counters.accepted(Source::OtlpGrpcMetrics)), (3, 1));
    assert!(counters
        .prometheus()
        .contains("fluoro_rejected_total{source=\"otlp_grpc_metrics\",reason=\"unsupported\"} 1\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn gzipped_protobuf_histograms_are_received_over_http() {
    let points = Arc::new(KeptPoints::default());
    let receivers = start_receivers(points.clone()).await;
    let histogram = Metric {
        name: "http.server.duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: TIME,
                start_time_unix_nano: TIME - 60_000_000_000,
                count: 3,
                sum: Some(0.7),
                explicit_bounds: vec![0.1, 0.5],
                bucket_counts: vec![1, 1, 1],
                ..Default::default()
            }],
            aggregation_temporality: 1,
        })),
        ..Default::default()
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&request(vec![histogram]).encode_to_vec()).unwrap();

    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/metrics", receivers.http))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().is_empty(), "an empty ExportMetricsServiceResponse");
    let kept = points.0.lock().clone();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].kind, kept[0].start_us), (MetricKind::DeltaHistogram, 1_699_999_940_000_000));
    assert_eq!(kept[0].histogram.as_ref().map(|h| h.counts.clone()), Some(vec![1, 1, 1]));
}
