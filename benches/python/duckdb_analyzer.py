"""DuckDB side of benches/src/bin/analyzer_vs_duckdb.rs and query_scaling.rs: the analyzer's
filter query, service-graph edge aggregation and latency histogram (`/api/histogram`, every
trace of the window) as SQL over the same Parquet blocks, each run RUNS times and
timed in-process with time.perf_counter (median), printed as JSON; and, once, the graph's node
statistics, for the check only.

Both queries keep the analyzer's semantics (analyzer/src/spans.rs, summary.rs,
service_graph/observations.rs), including the deduplication of span versions, so the answers
can be checked equal.

Usage: duckdb_analyzer.py FROM_US TO_US SLACK_US RUNS BLOCK.parquet...
"""

import json
import statistics
import sys
import time

import duckdb

# One version per (trace, span id): a completed version beats an in-progress one, then the
# highest sequence wins (spans.rs `deduplicate`).
RANK = "sequence + CASE WHEN in_progress THEN 0 ELSE 4611686018427387904 END"
DEDUPLICATED = f"QUALIFY {RANK} = max({RANK}) OVER (PARTITION BY trace_hi, trace_lo, id)"

# `responsetime > 1 AND http.status = 500`: traces that started in the window (spans read with
# the slack either side), judged by their root segment: the segment without a parent, earliest
# first (summary.rs `trace_frame`).
FILTER = f"""
WITH spans_in AS (
    SELECT trace_hi, trace_lo, id, parent_id, kind, start_us, end_us, in_progress, http_status
    FROM spans WHERE start_us >= $lo AND start_us < $hi {DEDUPLICATED}),
traces AS (
    SELECT trace_hi, trace_lo FROM spans_in GROUP BY trace_hi, trace_lo
    HAVING min(start_us) >= $from AND min(start_us) < $to),
roots AS (
    SELECT trace_hi, trace_lo, start_us, end_us, http_status FROM spans_in WHERE kind = 'segment'
    QUALIFY row_number() OVER (PARTITION BY trace_hi, trace_lo
                               ORDER BY parent_id IS NOT NULL, start_us, id) = 1)
SELECT count(*) FROM traces JOIN roots USING (trace_hi, trace_lo)
WHERE (roots.end_us - roots.start_us) / 1e6 > 1 AND roots.http_status = 500
"""

# `/api/histogram` without a filter (filter_latency.rs): every trace that started in the window
# (spans read with the slack either side), its response time (the root segment's) and duration
# (first start to last end), each as exact min, max, mean and nearest-rank percentiles and as
# 2-significant-digit buckets (histogram.rs `SortedDurations`).
HISTOGRAM = f"""
WITH spans_in AS (
    SELECT trace_hi, trace_lo, id, parent_id, kind, start_us, end_us, in_progress
    FROM spans WHERE start_us >= $lo AND start_us < $hi {DEDUPLICATED}),
traces AS (
    SELECT trace_hi, trace_lo, max(coalesce(end_us, start_us)) - min(start_us) AS duration_us
    FROM spans_in GROUP BY trace_hi, trace_lo
    HAVING min(start_us) >= $from AND min(start_us) < $to),
roots AS (
    SELECT trace_hi, trace_lo, end_us - start_us AS response_us FROM spans_in WHERE kind = 'segment'
    QUALIFY row_number() OVER (PARTITION BY trace_hi, trace_lo
                               ORDER BY parent_id IS NOT NULL, start_us, id) = 1),
per_trace AS MATERIALIZED (
    SELECT duration_us, response_us FROM traces LEFT JOIN roots USING (trace_hi, trace_lo)),
values_of AS (
    SELECT 'response' AS measure, response_us AS v FROM per_trace WHERE response_us IS NOT NULL
    UNION ALL SELECT 'duration', duration_us FROM per_trace),
buckets AS (
    SELECT measure, CASE WHEN v <= 0 THEN 0 ELSE
        floor(v / pow(10, floor(log10(v)) - 1)) * pow(10, floor(log10(v)) - 1) END AS bucket,
        count(*) AS n
    FROM values_of GROUP BY ALL)
SELECT measure, count(*), min(v), max(v), avg(v),
       quantile_disc(v, [0.5, 0.9, 0.95, 0.99]),
       (SELECT count(*) FROM buckets b WHERE b.measure = values_of.measure)
FROM values_of GROUP BY measure ORDER BY measure
"""

# AWS SDK names → X-Ray name and resource type (service_graph/inferred.rs `AWS_SERVICES`).
AWS_SERVICES = """(VALUES
    ('dynamodb', 'DynamoDB', 'Table'), ('sqs', 'SQS', 'Queue'), ('s3', 'S3', 'Bucket'),
    ('sns', 'SNS', 'Topic'), ('lambda', 'Lambda', NULL), ('kinesis', 'Kinesis', 'Stream'),
    ('firehose', 'Firehose', 'DeliveryStream'), ('secretsmanager', 'SecretsManager', NULL),
    ('ssm', 'SSM', NULL), ('sts', 'STS', NULL), ('ses', 'SES', NULL),
    ('eventbridge', 'EventBridge', NULL), ('events', 'EventBridge', NULL),
    ('stepfunctions', 'StepFunctions', NULL), ('sfn', 'StepFunctions', NULL), ('kms', 'KMS', NULL),
    ('ec2', 'EC2', NULL), ('cloudwatch', 'CloudWatch', NULL), ('logs', 'CloudWatchLogs', NULL),
    ('athena', 'Athena', NULL)) AS aws(sdk, xray_name, resource)"""

STATUS = "start_us, end_us, in_progress, error, fault, throttle"

# Service-graph observations of the spans starting in the window: client → root segment, caller →
# callee segment (the caller subsegment's view, once per call), and calls to inferred
# downstreams (aws/remote subsegments, not traced, answered by no segment); nodes are the
# segments and the inferred downstreams' calls (service_graph/observations.rs).
OBSERVATIONS = f"""
WITH deduplicated AS (
    SELECT trace_hi, trace_lo, id, parent_id, kind, service, name, origin, namespace, {STATUS},
           traced, aws_table, aws_queue, aws_resource, sql_url
    FROM spans WHERE start_us >= $from AND start_us < $to {DEDUPLICATED}),
keyed AS (SELECT *, coalesce(origin, '') AS node_type FROM deduplicated WHERE service IS NOT NULL),
links AS (
    SELECT c.trace_hi, c.trace_lo, c.parent_id, c.id AS c_id, p.kind AS p_kind,
           p.service AS src_name, p.node_type AS src_type, c.service AS dst_name, c.node_type AS dst_type,
           c.start_us AS c_start_us, c.end_us AS c_end_us, c.in_progress AS c_in_progress,
           c.error AS c_error, c.fault AS c_fault, c.throttle AS c_throttle,
           p.start_us AS p_start_us, p.end_us AS p_end_us, p.in_progress AS p_in_progress,
           p.error AS p_error, p.fault AS p_fault, p.throttle AS p_throttle
    FROM keyed c JOIN keyed p
      ON c.trace_hi = p.trace_hi AND c.trace_lo = p.trace_lo AND c.parent_id = p.id
    WHERE c.kind = 'segment'),
callee_edges AS (
    SELECT src_name, src_type, dst_name, dst_type,
           CASE WHEN p_kind = 'subsegment' THEN p_start_us ELSE c_start_us END AS start_us,
           CASE WHEN p_kind = 'subsegment' THEN p_end_us ELSE c_end_us END AS end_us,
           CASE WHEN p_kind = 'subsegment' THEN p_in_progress ELSE c_in_progress END AS in_progress,
           CASE WHEN p_kind = 'subsegment' THEN p_error ELSE c_error END AS error,
           CASE WHEN p_kind = 'subsegment' THEN p_fault ELSE c_fault END AS fault,
           CASE WHEN p_kind = 'subsegment' THEN p_throttle ELSE c_throttle END AS throttle
    FROM links
    QUALIFY row_number() OVER (PARTITION BY trace_hi, trace_lo,
        CASE WHEN p_kind = 'subsegment' THEN parent_id ELSE c_id END) = 1),
client_edges AS (
    SELECT service AS src_name, 'client' AS src_type, service AS dst_name, node_type AS dst_type, {STATUS}
    FROM keyed WHERE kind = 'segment' AND parent_id IS NULL),
inferred_calls AS (
    SELECT s.trace_hi, s.trace_lo, s.service AS src_name, s.node_type AS src_type,
           CASE WHEN s.namespace = 'remote' THEN s.name ELSE coalesce(aws.xray_name, s.name) END AS dst_name,
           CASE WHEN s.namespace = 'remote' THEN
                    CASE WHEN s.sql_url IS NOT NULL THEN 'Database::SQL' ELSE 'remote' END
                WHEN aws.resource IS NOT NULL AND (s.aws_table IS NOT NULL OR s.aws_queue IS NOT NULL
                                                   OR s.aws_resource IS NOT NULL)
                    THEN 'AWS::' || coalesce(aws.xray_name, s.name) || '::' || aws.resource
                ELSE 'AWS::' || coalesce(aws.xray_name, s.name) END AS dst_type,
           s.start_us, s.end_us, s.in_progress, s.error, s.fault, s.throttle
    FROM keyed s LEFT JOIN {AWS_SERVICES} ON lower(s.name) = aws.sdk
    WHERE s.kind = 'subsegment' AND s.namespace IN ('aws', 'remote') AND NOT s.traced
      AND NOT EXISTS (SELECT 1 FROM links l
                      WHERE l.trace_hi = s.trace_hi AND l.trace_lo = s.trace_lo AND l.parent_id = s.id)),
inferred_edges AS (SELECT src_name, src_type, dst_name, dst_type, {STATUS} FROM inferred_calls),
edges AS (
    SELECT * FROM callee_edges UNION ALL SELECT * FROM client_edges UNION ALL SELECT * FROM inferred_edges),
nodes AS (
    SELECT trace_hi, trace_lo, service AS name, node_type AS type, {STATUS} FROM keyed WHERE kind = 'segment'
    UNION ALL
    SELECT trace_hi, trace_lo, dst_name, dst_type, {STATUS} FROM inferred_calls)
"""

# Counts per status class and total response time (service_graph/statistics.rs).
STATISTICS = """count(*),
       count(*) FILTER (WHERE fault),
       count(*) FILTER (WHERE throttle AND NOT fault),
       count(*) FILTER (WHERE error AND NOT throttle AND NOT fault),
       coalesce(sum(end_us - start_us) FILTER (WHERE NOT in_progress AND end_us IS NOT NULL), 0)"""

# The edges' statistics: the timed query.
GRAPH = f"""{OBSERVATIONS}
SELECT src_name, src_type, dst_name, dst_type, {STATISTICS}
FROM edges GROUP BY ALL ORDER BY ALL
"""

# The nodes' statistics, with the requests in their response-time histogram (the completed
# ones) and the traces in their duration histogram (one per trace through the node); untimed.
NODES = f"""{OBSERVATIONS}
SELECT name, type, {STATISTICS},
       count(*) FILTER (WHERE NOT in_progress AND end_us IS NOT NULL),
       count(DISTINCT (trace_hi, trace_lo))
FROM nodes GROUP BY ALL ORDER BY ALL
"""


def timed(con, sql, parameters, runs):
    times, rows = [], None
    for _ in range(runs):
        began = time.perf_counter()
        rows = con.execute(sql, parameters).fetchall()
        times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times), rows


def main() -> None:
    from_us, to_us, slack_us, runs = (int(arg) for arg in sys.argv[1:5])
    paths = sys.argv[5:]
    con = duckdb.connect()
    # Fluoro keeps block metadata in memory; let DuckDB cache footers too.
    con.execute("SET parquet_metadata_cache = true")
    # DDL cannot take parameters: quote the paths as SQL string literals.
    quoted = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    con.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet([{quoted}])")
    window = {"from": from_us, "to": to_us}
    filter_ms, filter_rows = timed(con, FILTER, {**window, "lo": from_us - slack_us, "hi": to_us + slack_us}, runs)
    graph_ms, edges = timed(con, GRAPH, window, runs)
    slack = {**window, "lo": from_us - slack_us, "hi": to_us + slack_us}
    histogram_ms, histogram = timed(con, HISTOGRAM, slack, runs)
    measures = {row[0]: row for row in histogram}
    nodes = con.execute(NODES, window).fetchall()
    print(json.dumps({
        "filter_ms": filter_ms,
        "filter_count": filter_rows[0][0],
        "graph_ms": graph_ms,
        "histogram_ms": histogram_ms,
        "histogram_traces": measures.get("duration", [None, 0])[1],
        "histogram_responses": measures.get("response", [None, 0])[1],
        "histogram_response_p99_us": (measures.get("response") or [None] * 6)[5][3]
        if "response" in measures else None,
        "edges": [list(edge) for edge in edges],
        "nodes": [list(node) for node in nodes],
    }))


if __name__ == "__main__":
    main()
