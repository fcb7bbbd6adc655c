//! Ingest for Fluoro: the X-Ray daemon UDP protocol, the sampling endpoints, OTLP over gRPC and
//! HTTP, `PutTraceSegments`, and sidecar forwarding. Nothing is implemented yet; the work is
//! tracked in the collector issue.
