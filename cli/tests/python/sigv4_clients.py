"""Drives a Fluoro that asks for SigV4 with boto3, the AWS CLI and the X-Ray SDK, as users would.

Usage: sigv4_clients.py <endpoint-url> <udp-port> <sampling-port> <access-key-id> <secret>.
Prints one JSON object of what each client saw, for `cli/tests/fluoro_serve_verifies_sigv4.rs`.
"""

import datetime
import json
import os
import secrets
import subprocess
import sys
import time
from unittest import mock

import boto3
import botocore.auth
import botocore.exceptions
import requests
from botocore import UNSIGNED
from botocore.config import Config


def client(endpoint, key_id, secret, **config):
    return boto3.client(
        "xray",
        region_name="eu-west-1",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def refusal(call):
    """The status and error code boto3 raised, or "answered" when the call went through."""
    try:
        call()
        return {"answered": True}
    except botocore.exceptions.ClientError as error:
        return {
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"].get("Message", ""),
        }


def segment(name):
    now = time.time()
    trace_id = "1-%08x-%s" % (int(now), secrets.token_hex(12))
    document = {"name": name, "id": secrets.token_hex(8), "trace_id": trace_id, "start_time": now - 0.2, "end_time": now}
    return trace_id, json.dumps(document)


def trace_ids_found(xray, trace_ids):
    """The ids BatchGetTraces returns, asked until each is there (ingest is asynchronous)."""
    found = []
    for _ in range(50):
        answer = xray.batch_get_traces(TraceIds=trace_ids)
        found = sorted(trace["Id"] for trace in answer["Traces"])
        if len(found) == len(trace_ids):
            break
        time.sleep(0.1)
    return found


def aws_cli(endpoint, key_id, secret, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-west-2")
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    run = subprocess.run(
        ["aws", "xray", *args, "--endpoint-url", endpoint, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {"exit": run.returncode, "stdout": run.stdout, "stderr": run.stderr[-500:]}


def through_the_sdk_over_udp(udp_port, sampling_port):
    """The X-Ray SDK sends unsigned, over UDP to the daemon port; the sampling port stays open."""
    from aws_xray_sdk.core import xray_recorder

    xray_recorder.configure(
        daemon_address="127.0.0.1:%d" % udp_port, sampling=False, context_missing="LOG_ERROR", service="sdk-over-udp"
    )
    xray_recorder.begin_segment("sdk-over-udp")
    trace_id = xray_recorder.current_segment().trace_id
    xray_recorder.end_segment()
    rules = requests.post("http://127.0.0.1:%d/GetSamplingRules" % sampling_port, json={}, timeout=5)
    return trace_id, rules.status_code


def main(endpoint, udp_port, sampling_port, key_id, secret):
    xray = client(endpoint, key_id, secret)
    seen = {}

    trace_id, document = segment("signed-by-boto3")
    put = xray.put_trace_segments(TraceSegmentDocuments=[document])
    seen["boto3_put_unprocessed"] = put["UnprocessedTraceSegments"]
    seen["boto3_found"] = trace_ids_found(xray, [trace_id])
    seen["boto3_trace_id"] = trace_id
    now = datetime.datetime.now(datetime.timezone.utc)
    window = {"StartTime": now - datetime.timedelta(minutes=5), "EndTime": now + datetime.timedelta(minutes=1)}
    summaries = xray.get_trace_summaries(**window)
    seen["boto3_summaries"] = sorted(summary["Id"] for summary in summaries["TraceSummaries"])
    seen["boto3_service_graph"] = sorted(service.get("Name", "") for service in xray.get_service_graph(**window)["Services"])
    seen["boto3_sampling_rules"] = len(xray.get_sampling_rules()["SamplingRuleRecords"])
    xray.create_group(GroupName="signed-group", FilterExpression='service("signed-by-boto3")')
    seen["boto3_groups"] = sorted(group["GroupName"] for group in xray.get_groups()["Groups"])

    cli_trace_id, cli_document = segment("signed-by-aws-cli")
    seen["cli_put"] = aws_cli(endpoint, key_id, secret, "put-trace-segments", "--trace-segment-documents", cli_document)
    time.sleep(0.5)
    seen["cli_get"] = aws_cli(endpoint, key_id, secret, "batch-get-traces", "--trace-ids", cli_trace_id)
    seen["cli_trace_id"] = cli_trace_id
    seen["cli_wrong_secret"] = aws_cli(endpoint, key_id, "not-" + secret, "batch-get-traces", "--trace-ids", cli_trace_id)

    ids = [trace_id]
    seen["wrong_secret"] = refusal(lambda: client(endpoint, key_id, "not-" + secret).batch_get_traces(TraceIds=ids))
    seen["unknown_key"] = refusal(
        lambda: client(endpoint, "AKIDUNKNOWN0000000", secret).batch_get_traces(TraceIds=ids)
    )
    unsigned = client(endpoint, key_id, secret, signature_version=UNSIGNED)
    seen["unsigned_get"] = refusal(lambda: unsigned.batch_get_traces(TraceIds=ids))
    seen["unsigned_put"] = refusal(lambda: unsigned.put_trace_segments(TraceSegmentDocuments=[segment("unsigned")[1]]))
    seen["unsigned_sampling"] = refusal(lambda: unsigned.get_sampling_rules())
    ten_minutes_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=ten_minutes_ago.replace(tzinfo=None)):
        seen["ten_minutes_old"] = refusal(lambda: client(endpoint, key_id, secret).batch_get_traces(TraceIds=ids))
    seen["after_refusals_found"] = trace_ids_found(xray, ids)

    sdk_trace_id, sampling_status = through_the_sdk_over_udp(udp_port, sampling_port)
    seen["sdk_found"] = trace_ids_found(xray, [sdk_trace_id])
    seen["sdk_trace_id"] = sdk_trace_id
    seen["sampling_port_status"] = sampling_status
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
