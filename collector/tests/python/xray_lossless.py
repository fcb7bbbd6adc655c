"""Puts SDK documents exactly as given with boto3, reads their traces back, and sends one
PutTraceSegments body far over the server's limit, as a misbehaving producer would.

Usage: xray_lossless.py <endpoint-url> <input.json>. The input holds {"documents": [text, …],
"trace_ids": [id, …], "oversized_bytes": n}. Prints {"put": …, "get": …, "oversized": …} for
the Rust test `tests/xray_documents_read_back_as_sent.rs` to check.
"""

import json
import sys

import boto3
import botocore.config
import botocore.exceptions


def main(endpoint, input_path):
    with open(input_path) as file:
        given = json.load(file)
    # One attempt: a connection reset would otherwise be retried and hidden.
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120)
    client = boto3.client(
        "xray",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )
    result = {}
    result["put"] = strip(client.put_trace_segments(TraceSegmentDocuments=given["documents"]))
    result["get"] = strip(client.batch_get_traces(TraceIds=given["trace_ids"]))
    result["oversized"] = put_oversized(client, given["oversized_bytes"])
    print(json.dumps(result))


def put_oversized(client, size):
    """One document of `size` bytes: the answer, or how the connection failed."""
    document = '{"name":"big","pad":"' + "x" * size + '"}'
    try:
        client.put_trace_segments(TraceSegmentDocuments=[document])
        return {"accepted": True}
    except botocore.exceptions.ClientError as error:
        return {
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
        }
    except Exception as error:  # the connection broke: what the test must not see
        return {"connection_error": "%s: %s" % (type(error).__name__, error)}


def strip(response):
    response.pop("ResponseMetadata", None)
    return response


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
