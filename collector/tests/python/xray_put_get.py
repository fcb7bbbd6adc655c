"""Drives Fluoro's X-Ray API with the real boto3 client and the AWS CLI, as users would.

Usage: xray_put_get.py <endpoint-url>. Prints one JSON object with every response (without
ResponseMetadata) for the Rust test `tests/xray_clients_put_and_get_traces.rs` to check.
"""

import json
import os
import secrets
import subprocess
import sys
import time

import boto3
import botocore.exceptions


def main(endpoint):
    client = boto3.client(
        "xray",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    now = time.time()
    trace_id = "1-%08x-%s" % (int(now), secrets.token_hex(12))
    segment = {
        "name": "checkout",
        "id": "1000000000000001",
        "trace_id": trace_id,
        "start_time": now,
        "end_time": now + 0.5,
        "subsegments": [
            {
                "name": "handler",
                "id": "100000000000000a",
                "start_time": now + 0.01,
                "end_time": now + 0.4,
            }
        ],
    }
    # Sent on its own, as SDKs stream long-running subsegments; its parent is the segment's
    # subsegment, and it ends after the segment, which makes the trace longer.
    independent = {
        "name": "payments",
        "id": "100000000000000b",
        "trace_id": trace_id,
        "parent_id": "100000000000000a",
        "type": "subsegment",
        "namespace": "remote",
        "start_time": now + 0.02,
        "end_time": now + 0.75,
    }
    bad_trace_id = {
        "name": "broken",
        "id": "100000000000000c",
        "trace_id": "1-nothex",
        "start_time": now,
        "end_time": now + 0.1,
    }
    malformed = '{"name":"cut","id":"100000000000000d","start_time": '

    result = {"trace_id": trace_id}
    result["put_segment"] = strip(client.put_trace_segments(TraceSegmentDocuments=[json.dumps(segment)]))
    result["put_rest"] = strip(
        client.put_trace_segments(
            TraceSegmentDocuments=[json.dumps(independent), json.dumps(bad_trace_id), malformed]
        )
    )
    unknown = "1-%08x-%s" % (int(now), "0" * 24)
    result["get"] = strip(client.batch_get_traces(TraceIds=[trace_id, unknown, "not-a-trace-id"]))
    result["telemetry"] = strip(
        client.put_telemetry_records(
            TelemetryRecords=[
                {
                    "Timestamp": now,
                    "SegmentsReceivedCount": 4,
                    "SegmentsSentCount": 2,
                    "SegmentsRejectedCount": 2,
                    "BackendConnectionErrors": {"TimeoutCount": 0},
                }
            ],
            Hostname="test-host",
        )
    )
    try:
        client.batch_get_traces(TraceIds=[trace_id] * 101)
        result["too_many_ids"] = "accepted"
    except botocore.exceptions.ClientError as error:
        result["too_many_ids"] = {
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    result["cli"] = aws_cli(endpoint, trace_id)
    print(json.dumps(result))


def aws_cli(endpoint, trace_id):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    command = ["aws", "xray", "batch-get-traces", "--trace-ids", trace_id, "--endpoint-url", endpoint, "--output", "json"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        return {"error": run.stderr}
    return json.loads(run.stdout)


def strip(response):
    response.pop("ResponseMetadata", None)
    return response


if __name__ == "__main__":
    main(sys.argv[1])
