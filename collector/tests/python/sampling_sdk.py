"""The real aws-xray-sdk with centralized sampling, polling Fluoro as its daemon's TCP port.

Usage: sampling_sdk.py TCP_PORT UDP_PORT API_URL
Prints JSON: the rules the SDK fetched and its sampling decisions.
"""
import json
import os
import sys
import time

tcp_port, udp_port, api_url = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"tcp:127.0.0.1:{tcp_port} udp:127.0.0.1:{udp_port}"

import boto3  # noqa: E402
from aws_xray_sdk.core import xray_recorder  # noqa: E402

api = boto3.client(
    "xray", endpoint_url=api_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
)
api.create_sampling_rule(
    SamplingRule={
        "RuleName": "health-checks",
        "ResourceARN": "*",
        "Priority": 1,
        "FixedRate": 0.0,
        "ReservoirSize": 0,
        "ServiceName": "*",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "*",
        "URLPath": "/health*",
        "Version": 1,
    }
)

xray_recorder.configure(service="checkout", sampling=True, context_missing="LOG_ERROR")
sampler = xray_recorder.sampler
# The rule poller fetches as soon as it starts, then sleeps 5 minutes unless woken up. Wait
# for that first fetch: a later fetch replaces the cached rule objects.
sampler.start()
deadline = time.time() + 10
while time.time() < deadline and not sampler._cache.rules:
    time.sleep(0.05)
out = {"fetched": [rule.name for rule in sampler._cache.rules]}


def cached(name):
    return next(rule for rule in sampler._cache.rules if rule.name == name)


def decide(path):
    return sampler.should_trace({"service": "checkout", "method": "GET", "path": path})


out["health_before_targets"] = [decide("/health") for _ in range(20)]
out["orders_first"] = decide("/api/orders")

# Report statistics and load the quotas Fluoro hands out, as the target poller does every 10 s.
sampler._target_poller._do_work()
health = cached("health-checks")
out["summaries"] = {
    summary["RuleName"]: summary["RequestCount"]
    for summary in api.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
}
out["health_quota"] = {"quota": health.reservoir.quota, "ttl_in": health.reservoir.TTL - int(time.time())}
out["health_after_targets"] = [decide("/health/deep") for _ in range(20)]
out["other_after_targets"] = decide("/api/cart")

# A rule change makes the next target report wake the rule poller (LastRuleModification).
api.update_sampling_rule(SamplingRuleUpdate={"RuleName": "health-checks", "URLPath": "/healthz*"})
decide("/api/orders")  # something to report, so the target poller has a candidate
sampler._target_poller._do_work()
deadline = time.time() + 10
while time.time() < deadline:
    if cached("health-checks")._path == "/healthz*":
        break
    time.sleep(0.2)
out["refetched_path"] = cached("health-checks")._path
print(json.dumps(out))
