"""A planted fault-rate jump for X-Ray Insights, sent and read back with boto3.

    insights_timeline.py send ENDPOINT BASE [CATALOG_ORIGIN]
                                                PutTraceSegments: 90 minutes from BASE (epoch
                                                 seconds, a whole minute) of frontend → search →
                                                 catalog (and → cart on half the traces), 30
                                                 traces a minute; catalog faults on 1 % of its
                                                 requests, 40 % in minutes 70–79
    insights_timeline.py query ENDPOINT BASE    GetInsightSummaries, GetInsight, GetInsightEvents
                                                 and GetInsightImpactGraph as JSON on stdout

Noise is a hash of the trace number, so every run sends the same timeline."""
import hashlib
import json
import sys

import boto3
from botocore.config import Config

TRACES_PER_MINUTE = 30
MINUTES = 90
JUMP = range(70, 80)


def faults(n, salt, percent):
    digest = hashlib.sha256(f"{salt}:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def status(fault):
    return {"fault": True, "http": {"response": {"status": 500}}} if fault else {"http": {"response": {"status": 200}}}


def trace_documents(base, minute, index, catalog_origin="AWS::ECS::Container"):
    n = minute * 1000 + index
    start = base + minute * 60 + index * 1.9
    trace = "1-%08x-%024x" % (int(start), n)
    ident = lambda role: "%016x" % ((n + 1) << 8 | role)
    catalog = faults(n, 1, 40 if minute in JUMP else 1)
    search = catalog or faults(n, 2, 1)
    with_cart = index % 2 == 0
    cart = with_cart and faults(n, 3, 2)
    frontend = search or cart or faults(n, 4, 1)

    def call(role, name, fault):
        return {"id": ident(role), "name": name, "namespace": "remote", "start_time": start + 0.01,
                "end_time": start + 0.05, "http": {"request": {"url": f"http://{name}/", "traced": True}},
                **status(fault)}

    calls = [call(2, "search", search)] + ([call(3, "cart", cart)] if with_cart else [])
    documents = [
        {"name": "frontend", "id": ident(1), "trace_id": trace, "start_time": start, "end_time": start + 0.1,
         "origin": "AWS::EC2::Instance", "subsegments": calls, **status(frontend)},
        {"name": "search", "id": ident(10), "trace_id": trace, "parent_id": ident(2), "start_time": start + 0.011,
         "end_time": start + 0.049, "origin": "AWS::ECS::Container",
         "subsegments": [call(11, "catalog", catalog)], **status(search)},
        {"name": "catalog", "id": ident(20), "trace_id": trace, "parent_id": ident(11), "start_time": start + 0.02,
         "end_time": start + 0.04, "origin": catalog_origin, **status(catalog)},
    ]
    if with_cart:
        documents.append({"name": "cart", "id": ident(30), "trace_id": trace, "parent_id": ident(3),
                          "start_time": start + 0.011, "end_time": start + 0.03, "origin": "AWS::ECS::Container",
                          **status(cart)})
    return documents


def send(client, base, catalog_origin):
    batch, sent = [], 0
    for minute in range(MINUTES):
        for index in range(TRACES_PER_MINUTE):
            documents = trace_documents(base, minute, index, catalog_origin)
            batch.extend(json.dumps(document) for document in documents)
            if len(batch) >= 50:
                answer = client.put_trace_segments(TraceSegmentDocuments=batch)
                assert answer["UnprocessedTraceSegments"] == [], answer["UnprocessedTraceSegments"]
                sent += len(batch)
                batch = []
    if batch:
        client.put_trace_segments(TraceSegmentDocuments=batch)
        sent += len(batch)
    return {"documents": sent}


def seconds(value):
    return value.timestamp() if hasattr(value, "timestamp") else value


def plain(value):
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return seconds(value)


def query(client, base):
    window = {"StartTime": base, "EndTime": base + 3 * 3600}
    summaries = client.get_insight_summaries(GroupName="Default", **window)["InsightSummaries"]
    closed = client.get_insight_summaries(GroupName="Default", States=["CLOSED"], **window)["InsightSummaries"]
    active = client.get_insight_summaries(GroupName="Default", States=["ACTIVE"], **window)["InsightSummaries"]
    out = {"summaries": plain(summaries), "closed": len(closed), "active": len(active)}
    if summaries:
        insight_id = summaries[0]["InsightId"]
        out["insight"] = plain(client.get_insight(InsightId=insight_id)["Insight"])
        out["events"] = plain(client.get_insight_events(InsightId=insight_id)["InsightEvents"])
        graph = client.get_insight_impact_graph(InsightId=insight_id, StartTime=base + 65 * 60,
                                                EndTime=base + 85 * 60)
        out["graph"] = plain(graph["Services"])
        try:
            client.get_insight(InsightId="no-such-insight")
            out["unknown"] = None
        except client.exceptions.InvalidRequestException as error:
            out["unknown"] = error.response["Error"]["Message"]
    return out


def xray_client(endpoint):
    # Dummy credentials (Fluoro checks none); no retries, so a failed call fails at once.
    return boto3.client("xray", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))


def main():
    command, endpoint, base = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = xray_client(endpoint)
    origin = sys.argv[4] if len(sys.argv) > 4 else "AWS::ECS::Container"
    result = send(client, base, origin) if command == "send" else query(client, base)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
