"""GetServiceGraph, GetTraceGraph and GetTimeSeriesServiceStatistics through boto3 against a
Fluoro endpoint (argv[1]); prints what came back as JSON for the Rust test to check.
argv[2], argv[3]: the window in epoch seconds; argv[4]: a trace id for the trace graph."""
import json
import sys

from xray_client import invalid_request, xray_client

endpoint, start, end, trace_id = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
client = xray_client(endpoint)


def nodes(services):
    """Name/Type of every node, and each edge as (source, target, counts)."""
    by_reference = {service["ReferenceId"]: service for service in services}
    result = {"nodes": sorted([service["Name"], service["Type"]] for service in services), "edges": []}
    for service in services:
        for edge in service["Edges"]:
            target = by_reference[edge["ReferenceId"]]
            statistics = edge["SummaryStatistics"]
            result["edges"].append({
                "from": [service["Name"], service["Type"]],
                "to": [target["Name"], target["Type"]],
                "ok": statistics["OkCount"],
                "error": statistics["ErrorStatistics"]["OtherCount"],
                "throttle": statistics["ErrorStatistics"]["ThrottleCount"],
                "fault": statistics["FaultStatistics"]["TotalCount"],
                "total": statistics["TotalCount"],
                "response_time": round(statistics["TotalResponseTime"], 4),
                "histogram_count": sum(entry["Count"] for entry in edge["ResponseTimeHistogram"]),
                "start_type": type(edge["StartTime"]).__name__,
            })
    result["edges"].sort(key=lambda edge: (edge["from"], edge["to"]))
    return result


result = {}
graph = client.get_service_graph(StartTime=start, EndTime=end)
result["graph"] = nodes(graph["Services"])
result["graph_start_type"] = type(graph["StartTime"]).__name__
root = next(s for s in graph["Services"] if s["Name"] == "petsite" and s["Type"] != "client")
result["root"] = {"Root": root["Root"], "State": root["State"], "AccountId": root.get("AccountId"),
                  "durations": sum(entry["Count"] for entry in root["DurationHistogram"])}

result["default_group"] = len(client.get_service_graph(StartTime=start, EndTime=end, GroupName="Default")["Services"])

trace_graph = client.get_trace_graph(TraceIds=[trace_id])
result["trace_graph"] = nodes(trace_graph["Services"])

series = client.get_time_series_service_statistics(
    StartTime=start, EndTime=start + 300, EntitySelectorExpression='edge("petsite", "petsearch")', Period=60)
result["series"] = [
    {"timestamp_type": type(point["Timestamp"]).__name__, "total": point["EdgeSummaryStatistics"]["TotalCount"],
     "fault": point["EdgeSummaryStatistics"]["FaultStatistics"]["TotalCount"]}
    for point in series["TimeSeriesServiceStatistics"]
]
node_series = client.get_time_series_service_statistics(
    StartTime=start, EndTime=start + 300, EntitySelectorExpression='service("petsite")', Period=300)
result["node_series"] = [point["ServiceSummaryStatistics"]["TotalCount"]
                         for point in node_series["TimeSeriesServiceStatistics"]]


def invalid(call):
    return invalid_request(client, call)


result["bad_period"] = invalid(lambda: client.get_time_series_service_statistics(
    StartTime=start, EndTime=end, EntitySelectorExpression='service("petsite")', Period=120))
result["bad_selector"] = invalid(lambda: client.get_time_series_service_statistics(
    StartTime=start, EndTime=end, EntitySelectorExpression='service("petsite"', Period=60))
result["unknown_group"] = invalid(lambda: client.get_service_graph(StartTime=start, EndTime=end, GroupName="nope"))
print(json.dumps(result, default=str))
