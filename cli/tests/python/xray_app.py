#!/usr/bin/env python3
"""A small service instrumented with the real aws-xray-sdk (and, for one call, the
OpenTelemetry SDK), pointed at a running `fluoro serve`. Driven by cli/tests; prints one JSON
object on stdout for the test to check.

Usage: xray_app.py UDP_PORT SAMPLING_PORT OTLP_HTTP_PORT REQUESTS EXPECTED_RULE

For each of REQUESTS rounds it asks the SDK's centralized sampler about `GET /api/pets` and
`GET /health`, and records a segment for each sampled request. The first `/api/pets` segment
has 40 subsegments, so the SDK streams most of them as independent subsegments. One more
segment calls a downstream service instrumented with OpenTelemetry, whose span is exported over
OTLP/HTTP with the X-Ray trace id and the calling subsegment as parent.
"""

import json
import logging
import sys
import time

from aws_xray_sdk.core import xray_recorder

SERVICE = "petsite"


def configure(udp_port, sampling_port):
    logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
    xray_recorder.configure(
        service=SERVICE,
        sampling=True,
        context_missing="LOG_ERROR",
        daemon_address="tcp:127.0.0.1:%d udp:127.0.0.1:%d" % (sampling_port, udp_port),
    )


def wait_for_rule(rule_name, timeout=20.0):
    """The SDK polls rules in a background thread; wait until it has ours."""
    sampler = xray_recorder.sampler
    sampler.start()
    deadline = time.time() + timeout
    while time.time() < deadline:
        names = [rule.name for rule in sampler._cache.rules]
        if rule_name in names:
            return names
        time.sleep(0.2)
    raise SystemExit("sampling rule %r never reached the SDK" % rule_name)


def record_request(path, subsegments):
    segment = xray_recorder.begin_segment(SERVICE, sampling=1)
    segment.put_http_meta("method", "GET")
    segment.put_http_meta("url", "http://petsite.local" + path)
    for n in range(subsegments):
        sub = xray_recorder.begin_subsegment("load_pet")
        sub.put_annotation("pet_n", n)
        xray_recorder.end_subsegment()
    segment.put_http_meta("status", 200)
    trace_id = segment.trace_id
    xray_recorder.end_segment()
    return trace_id


def sampled(path):
    decision = xray_recorder.sampler.should_trace(
        {"service": SERVICE, "host": "petsite.local", "method": "GET", "path": path})
    return bool(decision)


def call_opentelemetry_service(otlp_http_port):
    """petsite (X-Ray) calls inventory (OpenTelemetry): one trace, two SDKs."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    provider = TracerProvider(resource=Resource.create({"service.name": "inventory"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint="http://127.0.0.1:%d/v1/traces" % otlp_http_port)))
    tracer = provider.get_tracer("inventory")

    segment = xray_recorder.begin_segment(SERVICE, sampling=1)
    segment.put_http_meta("url", "http://petsite.local/api/inventory")
    call = xray_recorder.begin_subsegment("inventory", namespace="remote")
    call.put_http_meta("url", "http://inventory.local/stock")
    call.put_http_meta("method", "GET")
    w3c_trace_id = segment.trace_id.replace("1-", "", 1).replace("-", "")
    parent = SpanContext(trace_id=int(w3c_trace_id, 16), span_id=int(call.id, 16), is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    with tracer.start_as_current_span("GET /stock", kind=SpanKind.SERVER, context=context) as span:
        span.set_attribute("http.request.method", "GET")
        span.set_attribute("http.response.status_code", 200)
        inventory_span_id = "%016x" % span.get_span_context().span_id
    call.put_http_meta("status", 200)
    xray_recorder.end_subsegment()
    xray_recorder.end_segment()
    provider.shutdown()
    return {"trace_id": segment.trace_id, "call_id": call.id, "inventory_span_id": inventory_span_id}


def main():
    udp_port, sampling_port, otlp_http_port, rounds = (int(arg) for arg in sys.argv[1:5])
    expected_rule = sys.argv[5]
    configure(udp_port, sampling_port)
    rules = wait_for_rule(expected_rule)
    traces = {"/api/pets": [], "/health": []}
    decisions = {"/api/pets": 0, "/health": 0}
    for round_number in range(rounds):
        for path in traces:
            if sampled(path):
                decisions[path] += 1
                traces[path].append(record_request(path, 40 if not traces[path] else 2))
    mixed = call_opentelemetry_service(otlp_http_port)
    time.sleep(0.5)  # UDP sends are fire-and-forget: give the last datagrams time to leave
    print(json.dumps({"rules": rules, "decisions": decisions, "traces": traces, "mixed": mixed}))


if __name__ == "__main__":
    main()
