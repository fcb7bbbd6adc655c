"""Exports metrics through the OpenTelemetry Python SDK's OTLP metric exporter (gzip), and three
server spans through its span exporter, and prints what a test needs to check them, as one
JSON line. Exits non-zero when an export fails.

Usage:
    otlp_metrics.py grpc http://127.0.0.1:4317 SERVICE
    otlp_metrics.py http http://127.0.0.1:4318 SERVICE     (the exporters add /v1/metrics, /v1/traces)

Two collections, one second apart (the reader exports only when flushed):
  process.memory.usage   observable gauge, By:        150e6, then 250e6
  process.cpu.time       observable counter, s, state=user|system (cumulative):
                         user 1.0 / system 0.5, then user 1.6 / system 0.7   (2.3 CPU seconds)
  orders.placed          counter, {order}, route=/orders (cumulative): +3, then +4   (7)
  http.server.duration   histogram, s, bounds 0.1 0.25 0.5 1: 0.05 0.2 0.3 0.8 before the first
Spans of SERVICE: three SERVER spans `GET /orders`, one answered 500.
Prints {"start": <epoch seconds before the first export>, "end": <after the last>}.
"""

import json
import sys
import time

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

# The span side is otlp_export.py's, in this folder (a script's folder is on sys.path).
from otlp_export import CheckedExporter as CheckedSpanExporter
from otlp_export import otlp_exporter as otlp_span_exporter


def otlp_metric_exporter(protocol, endpoint):
    if protocol == "grpc":
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=endpoint, insecure=True, compression=Compression.Gzip, timeout=10)
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", compression=Compression.Gzip, timeout=10)
    raise SystemExit(f"unknown protocol {protocol!r}: expected grpc or http")


class CheckedMetricExporter(MetricExporter):
    """Remembers failed exports: the reader only logs them."""

    def __init__(self, inner):
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.failures = 0

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        if result != MetricExportResult.SUCCESS:
            self.failures += 1
        return result

    def force_flush(self, timeout_millis=10_000):
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis=30_000, **kwargs):
        self.inner.shutdown(timeout_millis=timeout_millis)


COLLECTIONS = [
    {"memory": 150e6, "user": 1.0, "system": 0.5, "orders": 3},
    {"memory": 250e6, "user": 1.6, "system": 0.7, "orders": 4},
]


def main():
    protocol, endpoint, service = sys.argv[1:4]
    resource = Resource.create({"service.name": service})
    metric_exporter = CheckedMetricExporter(otlp_metric_exporter(protocol, endpoint))
    span_endpoint = endpoint if protocol == "grpc" else f"{endpoint}/v1/traces"
    span_exporter = CheckedSpanExporter(otlp_span_exporter(protocol, span_endpoint))
    # A reader that never exports on its own: the test decides when (force_flush).
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    # No shutdown: it would collect a third time, and the test counts the points.
    meters = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    meter = meters.get_meter("fluoro-metrics-test")
    current = {"at": 0}

    def memory(options: CallbackOptions):
        yield Observation(COLLECTIONS[current["at"]]["memory"])

    def cpu(options: CallbackOptions):
        now = COLLECTIONS[current["at"]]
        yield Observation(now["user"], {"state": "user"})
        yield Observation(now["system"], {"state": "system"})

    meter.create_observable_gauge("process.memory.usage", callbacks=[memory], unit="By")
    meter.create_observable_counter("process.cpu.time", callbacks=[cpu], unit="s")
    orders = meter.create_counter("orders.placed", unit="{order}")
    latency = meter.create_histogram(
        "http.server.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 0.25, 0.5, 1.0]
    )

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("fluoro-metrics-test")

    start = time.time()
    for status in [200, 200, 500]:
        with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", "GET")
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            time.sleep(0.01)
    for value in [0.05, 0.2, 0.3, 0.8]:
        latency.record(value)
    for at, collection in enumerate(COLLECTIONS):
        current["at"] = at
        orders.add(collection["orders"], {"route": "/orders"})
        if not meters.force_flush():
            raise SystemExit("force_flush failed")
        if at == 0:
            time.sleep(1.0)
    end = time.time()
    tracer_provider.shutdown()
    failures = metric_exporter.failures + span_exporter.failures
    if failures:
        raise SystemExit(f"{failures} export(s) to {endpoint} failed")
    print(json.dumps({"start": start, "end": end}))


if __name__ == "__main__":
    main()
