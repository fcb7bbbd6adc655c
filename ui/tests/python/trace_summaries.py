"""GetTraceSummaries through boto3 against a Fluoro endpoint (argv[1]); prints what came back
as JSON for the Rust test to check. argv[2], argv[3]: the window in epoch seconds."""
import json
import sys

from xray_client import xray_client

endpoint, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
client = xray_client(endpoint)
result = {}

slow = client.get_trace_summaries(StartTime=start, EndTime=end, FilterExpression="responsetime > 1")
result["slow"] = [summary["Id"] for summary in slow["TraceSummaries"]]
result["slow_first"] = {k: v for k, v in slow["TraceSummaries"][0].items() if k in ("ResponseTime", "Http", "HasFault")}
result["processed"] = slow["TracesProcessedCount"]
result["approximate_time_type"] = type(slow["ApproximateTime"]).__name__

# A root cause as boto3 returned it, fed back as a rootcause.json filter (what X-Ray's console
# does from its root-cause analytics).
cause = slow["TraceSummaries"][0]["FaultRootCauses"][0]
result["fault_root_cause"] = cause
same_cause = client.get_trace_summaries(StartTime=start, EndTime=end,
                                        FilterExpression="rootcause.json = #" + json.dumps([cause]))
result["same_cause"] = [summary["Id"] for summary in same_cause["TraceSummaries"]]

# Pages through everything with the paginator botocore builds from the model.
paginator = client.get_paginator("get_trace_summaries")
pages = list(paginator.paginate(StartTime=start, EndTime=end))
result["pages"] = len(pages)
result["all"] = sum(len(page["TraceSummaries"]) for page in pages)

try:
    client.get_trace_summaries(StartTime=start, EndTime=end, FilterExpression='responsetime > "x"')
    result["invalid"] = None
except client.exceptions.InvalidRequestException as error:
    result["invalid"] = {"code": error.response["Error"]["Code"], "message": error.response["Error"]["Message"],
                         "status": error.response["ResponseMetadata"]["HTTPStatusCode"]}

print(json.dumps(result, default=str))
