"""Writes log lines through Python's `logging` into the OpenTelemetry Python SDK's OTLP log
exporter (gzip), and prints what a test needs to find them, as one JSON line. Exits non-zero
when an export fails.

Usage:
    otlp_logs.py grpc http://127.0.0.1:4317 SERVICE MARKER
    otlp_logs.py http http://127.0.0.1:4318/v1/logs SERVICE MARKER

Lines (each message ends with MARKER, so a test can tell its own lines apart):
  inside the span `GET /pets/{id}` of SERVICE:
    INFO  "loading pet 42 MARKER"
    ERROR "Illegal memory allocation MARKER"   (with attribute pet.id = 42)
  outside any span:
    WARNING "cache is cold MARKER"
Prints {"trace_id": "<32 hex>", "span_id": "<16 hex>"} of the span.
"""

import json
import logging
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def otlp_exporter(protocol, endpoint):
    if protocol == "grpc":
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, insecure=True, compression=Compression.Gzip, timeout=10)
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, compression=Compression.Gzip, timeout=10)
    raise SystemExit(f"unknown protocol {protocol!r}: expected grpc or http")


class CheckedExporter(LogRecordExporter):
    """Remembers failed exports: the processors only log them."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result != LogRecordExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def main():
    protocol, endpoint, service, marker = sys.argv[1:5]
    resource = Resource.create({"service.name": service})
    exporter = CheckedExporter(otlp_exporter(protocol, endpoint))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"fluoro-test-{marker}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logs))
    # Spans are not exported: only their context reaches the log records.
    tracer = TracerProvider(resource=resource).get_tracer("fluoro-logs-test")

    with tracer.start_as_current_span("GET /pets/{id}") as span:
        logger.info("loading pet 42 %s", marker)
        logger.error("Illegal memory allocation %s", marker, extra={"pet.id": 42})
        context = span.get_span_context()
    logger.warning("cache is cold %s", marker)

    logs.force_flush()
    logs.shutdown()
    if exporter.failures:
        raise SystemExit(f"{exporter.failures} export(s) to {endpoint} failed")
    print(json.dumps({"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}))


if __name__ == "__main__":
    main()
