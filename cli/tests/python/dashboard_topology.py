#!/usr/bin/env python3
"""Feeds a running `fluoro serve` a known topology for the dashboard's browser tests, through
the real aws-xray-sdk (UDP) and the OpenTelemetry SDK (OTLP/HTTP). Prints one JSON object on
stdout: the trace ids by kind, for the test to check against what the browser shows.

Usage: dashboard_topology.py UDP_PORT OTLP_HTTP_PORT
       dashboard_topology.py hostile-service OTLP_HTTP_PORT

The second form sends one more trace: an OpenTelemetry server span whose resource's
`service.name` is `<img src=x onerror=alert(1)>`, and prints its trace id.

    client → frontend (X-Ray, EC2) → petsearch (X-Ray) → DynamoDB (inferred, table "pets")
                                   → payments (OpenTelemetry) → payments@db.local (SQL)

- every 3rd request is slow (frontend answers in 1.2 s, the others in 80 ms);
- every 4th (i % 4 == 1) has its DynamoDB call throttled (429): the petsearch → DynamoDB edge
  carries throttles, so it is orange;
- every 6th (i % 6 == 2) has payments fail with 500 and an exception: frontend → payments is red,
  and frontend's segment records the exception with its stack (X-Ray SDK);
- 100 fast traces of service "health" calling S3 (an inferred node right after its client's
  service), so the trace list has more than one page;
- the first faulted request's segments carry log lines, exported with the OpenTelemetry SDK's
  logging handler over OTLP/HTTP in the segments' context and dated inside them (5, 30 and 70 ms
  after the request began): frontend INFO, petsearch WARN, then frontend ERROR whose message
  carries `<img src=x onerror=alert(1)>`; and at 35 ms a petsearch INFO line whose span id is
  in no segment of the trace (a span never sent), which the timeline places by time, on the
  deepest row then running: the DynamoDB call;
- payments' process metrics, exported with the OpenTelemetry SDK's OTLP/HTTP metric exporter
  in three collections: `process.memory.usage` (gauge, 120, 160 then 200 MiB) and
  `process.cpu.time` (cumulative counter, 1.0, 1.5 then 2.1 s); petsearch exports none;
- 110 log lines of service "health" outside any span (no trace id): more than the Logs page's
  page of 100, so its search pages;
- one more trace, from service "xss-probe", carries `<img src=x onerror=alert(1)>` in its
  origin (the map's type tag), user, annotation, URL and exception message. Segment names
  cannot carry it: the name rule refuses `<`, `>`, `(` and `)` (the test checks that too).
"""

import json
import logging
import sys
import time
import traceback

from aws_xray_sdk.core import xray_recorder

PAYLOAD = "<img src=x onerror=alert(1)>"
REQUESTS = 24
# Past the GetTraceSummaries page size (100), so the trace list pages.
HEALTH_CHECKS = 100
# Past the Logs page's page size (100), so the log search pages.
HEALTH_LOG_LINES = 110


def configure(udp_port):
    logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
    xray_recorder.configure(service="frontend", sampling=False, context_missing="LOG_ERROR",
                            daemon_address="127.0.0.1:%d" % udp_port, streaming_threshold=1000)


def opentelemetry(otlp_http_port):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "payments"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint="http://127.0.0.1:%d/v1/traces" % otlp_http_port)))
    return provider


def charge_card():
    raise ValueError("card declined by the issuer")


def checkout():
    charge_card()


def failing_stack():
    """A real exception with a real stack, as the SDK's patches record one."""
    try:
        checkout()
    except ValueError as error:
        return error, traceback.extract_tb(error.__traceback__)


def payments_span(provider, trace_id, parent_id, start, end, fault):
    """The OpenTelemetry side: payments' server span under frontend's call, and its SQL call."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    tracer = provider.get_tracer("payments")
    w3c = trace_id.replace("1-", "", 1).replace("-", "")
    parent = SpanContext(trace_id=int(w3c, 16), span_id=int(parent_id, 16), is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    ns = lambda seconds: int(seconds * 1e9)
    span = tracer.start_span("POST /charge", kind=SpanKind.SERVER, context=context, start_time=ns(start))
    span.set_attribute("http.request.method", "POST")
    span.set_attribute("url.full", "http://payments.local/charge")
    span.set_attribute("http.response.status_code", 500 if fault else 200)
    db = tracer.start_span("SELECT payments", kind=SpanKind.CLIENT, context=trace.set_span_in_context(span),
                           start_time=ns(start + 0.005))
    db.set_attribute("db.system", "postgresql")
    db.set_attribute("db.name", "payments")
    db.set_attribute("server.address", "db.local")
    db.set_attribute("db.statement", "SELECT balance FROM cards WHERE id = $1")
    db.end(end_time=ns(start + 0.015))
    if fault:
        error, _ = failing_stack()
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end(end_time=ns(end))


def request(i, now, provider):
    slow = i % 3 == 0
    throttled = i % 4 == 1
    fault = i % 6 == 2
    start = now - 150 + i * 5
    response = 1.2 if slow else 0.08

    segment = xray_recorder.begin_segment("frontend", sampling=1)
    segment.start_time = start
    setattr(segment, "origin", "AWS::EC2::Instance")
    segment.put_http_meta("method", "GET")
    segment.put_http_meta("url", "http://frontend.local/api/pets?page=%d" % i)
    segment.put_annotation("pet_type", "bunny" if slow else "puppy")

    search = xray_recorder.begin_subsegment("petsearch", namespace="remote")
    search.start_time = start + 0.01
    search.put_http_meta("method", "GET")
    search.put_http_meta("url", "http://petsearch.local/search")
    search.put_http_meta("status", 200)
    search_id = search.id
    xray_recorder.end_subsegment(end_time=start + response - 0.03)

    pay = xray_recorder.begin_subsegment("payments", namespace="remote")
    pay.start_time = start + response - 0.025
    pay.put_http_meta("method", "POST")
    pay.put_http_meta("url", "http://payments.local/charge")
    pay.put_http_meta("status", 500 if fault else 200)
    if fault:
        pay.add_fault_flag()
    pay_id = pay.id
    xray_recorder.end_subsegment(end_time=start + response - 0.005)

    if fault:
        error, stack = failing_stack()
        segment.add_exception(error, stack)
    segment.put_http_meta("status", 500 if fault else 200)
    trace_id = segment.trace_id
    xray_recorder.end_segment(end_time=start + response)

    # petsearch, instrumented with X-Ray too: its segment's parent is frontend's call.
    callee = xray_recorder.begin_segment("petsearch", traceid=trace_id, parent_id=search_id, sampling=1)
    callee.start_time = start + 0.012
    callee.put_http_meta("method", "GET")
    callee.put_http_meta("url", "http://petsearch.local/search")
    table = xray_recorder.begin_subsegment("DynamoDB", namespace="aws")
    table.start_time = start + 0.015
    table.set_aws({"operation": "Query", "table_name": "pets", "region": "us-east-1"})
    table_id = table.id
    table.put_http_meta("status", 429 if throttled else 200)
    if throttled:
        table.add_throttle_flag()
        table.add_error_flag()
    xray_recorder.end_subsegment(end_time=start + response - 0.04)
    callee.put_http_meta("status", 200)
    xray_recorder.end_segment(end_time=start + response - 0.035)

    payments_span(provider, trace_id, pay_id, start + response - 0.024, start + response - 0.006, fault)
    return trace_id, {"slow": slow, "throttled": throttled, "fault": fault, "start": start,
                      "segments": {"frontend": segment.id, "petsearch": callee.id, "dynamodb": table_id}}


def log_lines(otlp_http_port, trace_id, segments, start):
    """The log lines of one trace, each written in its segment's context at a time inside it
    (the handler dates a record by its `created`); returns them in time order."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    w3c = int(trace_id.replace("1-", "", 1).replace("-", ""), 16)
    providers, loggers = [], {}
    for service in ("frontend", "petsearch"):
        provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint="http://127.0.0.1:%d/v1/logs" % otlp_http_port)))
        logger = logging.getLogger("dashboard-topology-" + service)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
        providers.append(provider)
        loggers[service] = logger
    unknown_span = "5ca1ab1e5ca1ab1e"
    # (service, level, message, seconds after the start, span id, the row that shows it)
    written = [("frontend", logging.INFO, "loading pets page 2", 0.005, segments["frontend"], segments["frontend"]),
               ("petsearch", logging.WARNING, "DynamoDB throttled the query, retrying", 0.030,
                segments["petsearch"], segments["petsearch"]),
               ("petsearch", logging.INFO, "cache warmed in the background", 0.035, unknown_span, segments["dynamodb"]),
               ("frontend", logging.ERROR, "payment failed: " + PAYLOAD, 0.070, segments["frontend"], segments["frontend"])]
    for service, level, message, offset, span, _ in written:
        context = SpanContext(trace_id=w3c, span_id=int(span, 16), is_remote=False,
                              trace_flags=TraceFlags(TraceFlags.SAMPLED))
        logger = loggers[service]
        record = logger.makeRecord(logger.name, level, __file__, 0, message, None, None)
        record.created = start + offset
        with trace.use_span(NonRecordingSpan(context)):
            logger.handle(record)
    for provider in providers:
        provider.shutdown()
    return [{"service": service, "message": message, "severity": logging.getLevelName(level).replace("WARNING", "WARN"),
             "span": span, "segment": row, "time": start + offset}
            for service, level, message, offset, span, row in written]


def health_logs(otlp_http_port):
    """Log lines written outside any span, batched as a service's logging handler sends them."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": "health"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint="http://127.0.0.1:%d/v1/logs" % otlp_http_port)))
    logger = logging.getLogger("dashboard-topology-health")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    for i in range(HEALTH_LOG_LINES):
        logger.info("health probe %d answered", i)
    provider.shutdown()  # flushes the batch
    return HEALTH_LOG_LINES


MEMORY_MIB = [120, 160, 200]
CPU_SECONDS = [1.0, 1.5, 2.1]


def process_metrics(otlp_http_port):
    """payments' resident memory and CPU time, as a service's process metrics, over OTLP/HTTP."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPMetricExporter(endpoint="http://127.0.0.1:%d/v1/metrics" % otlp_http_port, timeout=10)
    # A reader that never exports on its own: each force_flush is one collection.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=Resource.create({"service.name": "payments"}), metric_readers=[reader],
                           shutdown_on_exit=False)
    meter = meters.get_meter("payments")
    at = {"i": 0}

    def memory(options: CallbackOptions):
        yield Observation(MEMORY_MIB[at["i"]] * 1024 * 1024)

    def cpu(options: CallbackOptions):
        yield Observation(CPU_SECONDS[at["i"]])

    meter.create_observable_gauge("process.memory.usage", callbacks=[memory], unit="By")
    meter.create_observable_counter("process.cpu.time", callbacks=[cpu], unit="s")
    for i in range(len(MEMORY_MIB)):
        at["i"] = i
        if not reader.force_flush(timeout_millis=10_000):
            raise SystemExit("exporting payments' process metrics failed")
        time.sleep(0.5)
    return {"memory_mib": MEMORY_MIB, "cpu_seconds": CPU_SECONDS}


def health_check(i, now):
    """A fast, healthy trace of its own service: enough of them make the list page."""
    segment = xray_recorder.begin_segment("health", sampling=1)
    segment.start_time = now - 140 + i
    segment.put_http_meta("method", "GET")
    segment.put_http_meta("url", "http://health.local/health")
    # A direct call to S3: an inferred node one column from the client, which the map still
    # draws in the rightmost column with the other inferred nodes.
    bucket = xray_recorder.begin_subsegment("S3", namespace="aws")
    bucket.start_time = now - 140 + i + 0.001
    bucket.set_aws({"operation": "HeadBucket", "bucket_name": "health-probes", "region": "us-east-1"})
    bucket.put_http_meta("status", 200)
    xray_recorder.end_subsegment(end_time=now - 140 + i + 0.003)
    segment.put_http_meta("status", 200)
    trace_id = segment.trace_id
    xray_recorder.end_segment(end_time=now - 140 + i + 0.005)
    return trace_id


def xss_probe(now):
    segment = xray_recorder.begin_segment("xss-probe", sampling=1)
    segment.start_time = now - 30
    setattr(segment, "origin", PAYLOAD)
    segment.set_user(PAYLOAD)
    segment.put_annotation("note", PAYLOAD)
    segment.put_metadata("payload", PAYLOAD)
    segment.put_http_meta("method", "GET")
    segment.put_http_meta("url", "http://xss.local/" + PAYLOAD)
    segment.put_http_meta("status", 500)
    try:
        raise RuntimeError(PAYLOAD)
    except RuntimeError as error:
        segment.add_exception(error, traceback.extract_tb(error.__traceback__))
    trace_id = segment.trace_id
    xray_recorder.end_segment(end_time=now - 29.5)
    return trace_id


def hostile_service(otlp_http_port):
    """One OpenTelemetry server span of a service named with the payload; its X-Ray trace id."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.trace import SpanKind

    class XRayIds(RandomIdGenerator):
        """Trace ids that start with the epoch second, as X-Ray's (and its OTel exporter's) do."""
        def generate_trace_id(self):
            return (int(time.time()) << 96) | (super().generate_trace_id() & ((1 << 96) - 1))

    provider = TracerProvider(resource=Resource.create({"service.name": PAYLOAD}), id_generator=XRayIds())
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint="http://127.0.0.1:%d/v1/traces" % otlp_http_port)))
    now = time.time()
    span = provider.get_tracer("hostile").start_span("GET /", kind=SpanKind.SERVER, start_time=int((now - 30) * 1e9))
    span.set_attribute("http.request.method", "GET")
    span.end(end_time=int((now - 29.9) * 1e9))
    provider.shutdown()
    trace_id = "%032x" % span.get_span_context().trace_id
    return "1-%s-%s" % (trace_id[:8], trace_id[8:])


def main():
    if sys.argv[1] == "hostile-service":
        print(json.dumps({"trace": hostile_service(int(sys.argv[2]))}))
        return
    udp_port, otlp_http_port = (int(arg) for arg in sys.argv[1:3])
    configure(udp_port)
    provider = opentelemetry(otlp_http_port)
    now = time.time()
    traces = []
    for i in range(REQUESTS):
        trace_id, kind = request(i, now, provider)
        traces.append(dict(kind, id=trace_id))
    health = [health_check(i, now) for i in range(HEALTH_CHECKS)]
    xss = xss_probe(now)
    provider.shutdown()
    logged = next(t for t in traces if t["fault"])
    logs = log_lines(otlp_http_port, logged["id"], logged["segments"], logged["start"])
    health_lines = health_logs(otlp_http_port)
    metrics = process_metrics(otlp_http_port)
    time.sleep(0.5)  # UDP sends are fire-and-forget: give the last datagrams time to leave
    print(json.dumps({"traces": traces, "xss": xss, "payload": PAYLOAD, "health": len(health),
                      "throttled": sum(1 for t in traces if t["throttled"]), "logs": logs,
                      "health_log_lines": health_lines, "metrics": metrics}))


if __name__ == "__main__":
    main()
