"""Sends one trace to Fluoro with the OpenTelemetry Python SDK's OTLP exporter, gzip-compressed,
and prints its trace id in hex. Exits non-zero when the export fails.

Usage:
    otlp_export.py grpc http://127.0.0.1:4317
    otlp_export.py http http://127.0.0.1:4318/v1/traces

The trace: a SERVER span `GET /orders/{id}` (HTTP 200) of service `checkout`, and inside it a
CLIENT span calling service `inventory` that got HTTP 503 and ended with an ERROR status.
"""

import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode


def otlp_exporter(protocol, endpoint):
    if protocol == "grpc":
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=Compression.Gzip, timeout=10)
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip, timeout=10)
    raise SystemExit(f"unknown protocol {protocol!r}: expected grpc or http")


class CheckedExporter(SpanExporter):
    """Remembers failed exports: the span processors only log them."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def main():
    protocol, endpoint = sys.argv[1], sys.argv[2]
    exporter = CheckedExporter(otlp_exporter(protocol, endpoint))
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fluoro-otlp-test")

    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER) as server:
        server.set_attribute("http.request.method", "GET")
        server.set_attribute("url.scheme", "http")
        server.set_attribute("server.address", "shop.example")
        server.set_attribute("url.path", "/orders/42")
        server.set_attribute("http.route", "/orders/{id}")
        server.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as client:
            client.set_attribute("peer.service", "inventory")
            client.set_attribute("http.request.method", "GET")
            client.set_attribute("url.full", "http://inventory.internal:8080/items/42")
            client.set_attribute("http.response.status_code", 503)
            client.set_status(Status(StatusCode.ERROR, "inventory unavailable"))
        trace_id = server.get_span_context().trace_id

    provider.force_flush()
    provider.shutdown()
    if exporter.failures:
        raise SystemExit(f"{exporter.failures} export(s) to {endpoint} failed")
    print(f"{trace_id:032x}")


if __name__ == "__main__":
    main()
