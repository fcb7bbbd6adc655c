"""X-Ray groups through boto3 against a Fluoro endpoint (argv[1]); prints what came back as JSON
for the Rust test to check. argv[2] is the phase: "seed" puts two traces through
PutTraceSegments and exercises every group operation; "restarted" reads the groups again from a
server started afresh on the same data. argv[3]: epoch seconds the traces start at."""
import json
import sys

from xray_client import invalid_request, xray_client

endpoint, phase, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = xray_client(endpoint)
window = {"StartTime": t0 - 60, "EndTime": t0 + 600}
SLOW_TRACE = "1-%08x-%024x" % (int(t0), 1)
FAST_TRACE = "1-%08x-%024x" % (int(t0), 2)


def segments():
    """checkout (3 s) calls payments; catalog (0.1 s) stands alone."""
    checkout = {"trace_id": SLOW_TRACE, "id": "00000000000000a1", "name": "checkout",
                "start_time": t0, "end_time": t0 + 3,
                "http": {"request": {"method": "POST", "url": "https://shop.example.com/checkout"},
                         "response": {"status": 200}},
                "subsegments": [{"id": "00000000000000b1", "name": "payments", "namespace": "remote",
                                 "start_time": t0 + 0.1, "end_time": t0 + 2.9,
                                 "http": {"request": {"method": "POST", "url": "http://payments/charge"},
                                          "response": {"status": 200}}}]}
    payments = {"trace_id": SLOW_TRACE, "id": "00000000000000c1", "parent_id": "00000000000000b1",
                "name": "payments", "start_time": t0 + 0.2, "end_time": t0 + 2.8,
                "http": {"request": {"method": "POST", "url": "http://payments/charge"},
                         "response": {"status": 200}}}
    catalog = {"trace_id": FAST_TRACE, "id": "00000000000000d1", "name": "catalog",
               "start_time": t0 + 1, "end_time": t0 + 1.1,
               "http": {"request": {"method": "GET", "url": "https://shop.example.com/items"},
                        "response": {"status": 200}}}
    return [json.dumps(document) for document in (checkout, payments, catalog)]


def refusal(call):
    return invalid_request(client, call)


def graph_names(**group):
    services = client.get_service_graph(**window, **group)["Services"]
    return sorted("%s/%s" % (service["Name"], service["Type"]) for service in services)


def summaries(expression):
    answer = client.get_trace_summaries(**window, FilterExpression=expression)
    return [summary["Id"] for summary in answer["TraceSummaries"]]


def group_names():
    pages = list(client.get_paginator("get_groups").paginate())
    return len(pages), [group["GroupName"] for page in pages for group in page["Groups"]]


def without_metadata(answer):
    return {key: value for key, value in answer.items() if key != "ResponseMetadata"}


result = {}
if phase == "seed":
    put = client.put_trace_segments(TraceSegmentDocuments=segments())
    result["unprocessed"] = put["UnprocessedTraceSegments"]
    result["created"] = without_metadata(client.create_group(
        GroupName="slow", FilterExpression="responsetime > 1",
        InsightsConfiguration={"InsightsEnabled": True}, Tags=[{"Key": "team", "Value": "checkout"}]))
    slow_arn = result["created"]["Group"]["GroupARN"]
    client.create_group(GroupName="errors", FilterExpression="fault OR error")
    client.create_group(GroupName="slow-checkout", FilterExpression='group.name = "slow" AND service("checkout")')
    for index in range(12):
        client.create_group(GroupName="g%02d" % index, FilterExpression="http.status = %d" % (200 + index))
    result["by_name"] = client.get_group(GroupName="slow")["Group"]
    result["by_arn"] = client.get_group(GroupARN=slow_arn)["Group"]
    result["pages"], result["names"] = group_names()
    result["updated"] = client.update_group(
        GroupName="errors", FilterExpression="fault",
        InsightsConfiguration={"InsightsEnabled": True, "NotificationsEnabled": True})["Group"]
    result["deleted"] = without_metadata(client.delete_group(GroupName="g00"))
    result["deleted_get"] = refusal(lambda: client.get_group(GroupName="g00"))
    result["invalid_filter"] = refusal(lambda: client.create_group(GroupName="bad", FilterExpression='responsetime > "x"'))
    result["unknown_reference"] = refusal(
        lambda: client.create_group(GroupName="bad", FilterExpression='group.name = "missing"'))
    result["loop"] = refusal(lambda: client.update_group(GroupName="slow", FilterExpression='group.name = "slow-checkout"'))
    result["delete_default"] = refusal(lambda: client.delete_group(GroupName="Default"))
    result["filter_default"] = refusal(lambda: client.update_group(GroupName="Default", FilterExpression="fault"))
    result["graph_all"] = graph_names()
    result["graph_default"] = graph_names(GroupName="Default")
    result["graph_slow"] = graph_names(GroupName="slow")
    result["graph_slow_by_arn"] = graph_names(GroupARN=slow_arn)
    result["graph_errors"] = graph_names(GroupName="errors")
    result["graph_unknown"] = refusal(lambda: client.get_service_graph(**window, GroupName="nope"))
    series = {}
    for service in ("checkout", "catalog"):
        points = client.get_time_series_service_statistics(
            **window, GroupName="slow", EntitySelectorExpression='service("%s")' % service, Period=60)
        series[service] = sum(point["ServiceSummaryStatistics"]["TotalCount"]
                              for point in points["TimeSeriesServiceStatistics"])
    result["series_slow"] = series
    result["summaries_slow"] = summaries('group.name = "slow"')
    result["summaries_not_slow"] = summaries('!group.name = "slow"')
    result["summaries_unknown"] = refusal(lambda: summaries('group.name = "nope"'))
else:
    result["by_name"] = client.get_group(GroupName="slow")["Group"]
    result["updated"] = client.get_group(GroupName="errors")["Group"]
    result["pages"], result["names"] = group_names()
    result["graph_slow_checkout"] = graph_names(GroupName="slow-checkout")
    result["summaries_slow_checkout"] = summaries('group.name = "slow-checkout"')
print(json.dumps(result, default=str))
