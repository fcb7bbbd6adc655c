//! The logs signal of the OTLP receivers: `LogsService/Export` over gRPC and what `POST /v1/logs`
//! needs to know ([`OtlpExport`] for `ExportLogsServiceRequest`). Transports, limits and
//! errors are the trace receivers', in `otlp.rs`.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
pub(super) use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use tonic::codec::CompressionEncoding;

use super::{export_off_the_executor, OtlpExport, MAX_OTLP_REQUEST_BYTES};
use crate::counters::Source;
use crate::ingest::Ingest;
use fluoro_proto::{log_rows_from_otlp, Durability, SinkError};

/// The OTLP gRPC logs service.
#[derive(Debug, Clone)]
pub(crate) struct OtlpLogsService {
    ingest: Ingest,
}

/// The gRPC logs service, accepting gzip and messages up to [`MAX_OTLP_REQUEST_BYTES`].
pub(crate) fn otlp_logs_grpc_service(ingest: Ingest) -> LogsServiceServer<OtlpLogsService> {
    LogsServiceServer::new(OtlpLogsService { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_OTLP_REQUEST_BYTES)
}

#[tonic::async_trait]
impl LogsService for OtlpLogsService {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        export_off_the_executor(&self.ingest, request.into_inner(), Source::OtlpGrpcLogs, "log record").await
    }
}

impl OtlpExport for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const MESSAGE: &'static str = "ExportLogsServiceRequest";
    const HTTP_SOURCE: Source = Source::OtlpHttpLogs;

    fn store(&self, ingest: &Ingest, source: Source) -> Result<ExportLogsServiceResponse, SinkError> {
        let conversion = log_rows_from_otlp(&self.resource_logs);
        let rejected = conversion.rejected_count();
        let partial_success = conversion.rejection_message().map(|error_message| ExportLogsPartialSuccess {
            rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message,
        });
        ingest.put_logs(source, conversion.rows, rejected, Durability::Acknowledged)?;
        Ok(ExportLogsServiceResponse { partial_success })
    }

    fn has_partial_success(response: &ExportLogsServiceResponse) -> bool {
        response.partial_success.is_some()
    }
}
