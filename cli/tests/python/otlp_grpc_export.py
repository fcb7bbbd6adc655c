#!/usr/bin/env python3
"""Exports one span to an OTLP gRPC endpoint with grpcio and the OpenTelemetry protos, without
the SDK's exporter (which retries UNAVAILABLE for a minute): one call, whose outcome the test
reads. Driven by cli/tests/fluoro_serve_survives_a_full_disk.rs.

Usage: otlp_grpc_export.py HOST:PORT TRACE_ID_HEX

Prints one JSON object: {"code": "OK" | the gRPC status name, "details": the status message}.
"""

import json
import sys

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


def request(trace_id_hex):
    span = trace_pb2.Span(
        trace_id=bytes.fromhex(trace_id_hex),
        span_id=bytes.fromhex("00f067aa0ba902b8"),
        name="GET /pets over gRPC",
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1465509000000000000,
        end_time_unix_nano=1465509000500000000,
    )
    service = common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="otel-grpc"))
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[service]),
                scope_spans=[trace_pb2.ScopeSpans(spans=[span])],
            )
        ]
    )


def main():
    address, trace_id_hex = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(address) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        try:
            stub.Export(request(trace_id_hex), timeout=10)
            print(json.dumps({"code": "OK", "details": ""}))
        except grpc.RpcError as error:
            print(json.dumps({"code": error.code().name, "details": error.details()}))


if __name__ == "__main__":
    main()
