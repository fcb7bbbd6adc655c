"""Drives Fluoro's sampling-rule API with boto3 and prints what botocore parsed, as JSON.

Usage: sampling_rules_api.py http://127.0.0.1:PORT
"""
import datetime
import json
import sys

import boto3
from botocore.exceptions import ClientError

client = boto3.client(
    "xray",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="fluoro",
    aws_secret_access_key="fluoro",
)


def plain(value):
    """botocore turns timestamps into datetimes; keep them as epoch seconds for the Rust side."""
    if isinstance(value, datetime.datetime):
        return {"datetime": value.timestamp(), "aware": value.tzinfo is not None}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def error_of(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as error:
        return {
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return None


rule = {
    "RuleName": "orders",
    "ResourceARN": "*",
    "Priority": 100,
    "FixedRate": 0.25,
    "ReservoirSize": 3,
    "ServiceName": "checkout",
    "ServiceType": "*",
    "Host": "*",
    "HTTPMethod": "POST",
    "URLPath": "/api/orders*",
    "Version": 1,
    "Attributes": {"tier": "gold"},
}
out = {}
out["create"] = plain(client.create_sampling_rule(SamplingRule=rule, Tags=[{"Key": "team", "Value": "shop"}]))
out["duplicate"] = error_of(client.create_sampling_rule, SamplingRule=rule)
# botocore checks minimums itself, but not maximums: those are ours to refuse.
out["bad_priority"] = error_of(client.create_sampling_rule, SamplingRule={**rule, "RuleName": "x", "Priority": 10000})
out["update"] = plain(client.update_sampling_rule(SamplingRuleUpdate={"RuleName": "orders", "FixedRate": 0.5}))
out["update_default_path"] = error_of(
    client.update_sampling_rule, SamplingRuleUpdate={"RuleName": "Default", "URLPath": "/x"}
)
out["update_missing"] = error_of(client.update_sampling_rule, SamplingRuleUpdate={"RuleName": "nope", "FixedRate": 0.1})
out["get"] = plain(client.get_sampling_rules())
out["paginated"] = [
    record["SamplingRule"]["RuleName"]
    for page in client.get_paginator("get_sampling_rules").paginate()
    for record in page["SamplingRuleRecords"]
]
out["targets"] = plain(
    client.get_sampling_targets(
        SamplingStatisticsDocuments=[
            {
                "RuleName": "orders",
                "ClientID": "0123456789abcdef01234567",
                "Timestamp": datetime.datetime.now(datetime.timezone.utc),
                "RequestCount": 10,
                "SampledCount": 4,
                "BorrowCount": 1,
            },
            {
                "RuleName": "ghost",
                "ClientID": "0123456789abcdef01234567",
                "Timestamp": datetime.datetime.now(datetime.timezone.utc),
                "RequestCount": 1,
                "SampledCount": 0,
            },
        ]
    )
)
out["summaries"] = plain(client.get_sampling_statistic_summaries())
out["delete_default"] = error_of(client.delete_sampling_rule, RuleName="Default")
out["delete"] = plain(client.delete_sampling_rule(RuleARN=out["create"]["SamplingRuleRecord"]["SamplingRule"]["RuleARN"]))
out["after_delete"] = [r["SamplingRule"]["RuleName"] for r in client.get_sampling_rules()["SamplingRuleRecords"]]
print(json.dumps(out))
