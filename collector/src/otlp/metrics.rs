//! The metrics signal of the OTLP receivers: `MetricsService/Export` over gRPC and what
//! `POST /v1/metrics` needs to know ([`OtlpExport`] for `ExportMetricsServiceRequest`).
//! Transports, limits and errors are the trace receivers', in `otlp.rs`.

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
pub(super) use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use tonic::codec::CompressionEncoding;

use super::{export_off_the_executor, OtlpExport, MAX_OTLP_REQUEST_BYTES};
use crate::counters::Source;
use crate::ingest::Ingest;
use fluoro_proto::{metric_points_from_otlp, Durability, SinkError};

/// The OTLP gRPC metrics service.
#[derive(Debug, Clone)]
pub(crate) struct OtlpMetricsService {
    ingest: Ingest,
}

/// The gRPC metrics service, accepting gzip and messages up to [`MAX_OTLP_REQUEST_BYTES`].
pub(crate) fn otlp_metrics_grpc_service(ingest: Ingest) -> MetricsServiceServer<OtlpMetricsService> {
    MetricsServiceServer::new(OtlpMetricsService { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_OTLP_REQUEST_BYTES)
}

#[tonic::async_trait]
impl MetricsService for OtlpMetricsService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        export_off_the_executor(&self.ingest, request.into_inner(), Source::OtlpGrpcMetrics, "data point").await
    }
}

impl OtlpExport for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const MESSAGE: &'static str = "ExportMetricsServiceRequest";
    const HTTP_SOURCE: Source = Source::OtlpHttpMetrics;

    fn store(&self, ingest: &Ingest, source: Source) -> Result<ExportMetricsServiceResponse, SinkError> {
        let conversion = metric_points_from_otlp(&self.resource_metrics);
        let (rejected, unsupported) = (conversion.rejected_count(), conversion.unsupported_count());
        let partial_success = conversion.rejection_message().map(|error_message| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message,
        });
        ingest.put_metrics(source, conversion.rows, rejected, unsupported, Durability::Acknowledged)?;
        Ok(ExportMetricsServiceResponse { partial_success })
    }

    fn has_partial_success(response: &ExportMetricsServiceResponse) -> bool {
        response.partial_success.is_some()
    }
}
