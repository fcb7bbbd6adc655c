"""DuckDB side of benches/src/bin/metric_rollup.rs: one service's per-minute CPU (increase per
second of the cumulative `process.cpu.time`, per series, all series added) and mean memory
(`process.memory.usage`) as SQL over the same Parquet metric blocks, each run RUNS times and
timed in-process with time.perf_counter (median), printed as JSON with one value per minute of
[FROM_US, TO_US) (null where none), so the answers can be checked equal.

The CPU query keeps the analyzer's semantics for this data (analyzer/src/metric_samples.rs):
a point's increase is its value minus the previous point's of the same series, read from 10
minutes before the range; the benchmark's series never reset.

Usage: duckdb_metrics.py SERVICE FROM_US TO_US RUNS BLOCK.parquet...
"""

import json
import statistics
import sys
import time

import duckdb

LOOKBACK_US = 10 * 60 * 1_000_000
MINUTE_US = 60_000_000

CPU = """
WITH points AS (
    SELECT time_us, value - lag(value) OVER (PARTITION BY attributes ORDER BY time_us) AS increase
    FROM metrics WHERE service = $service AND name = 'process.cpu.time'
      AND time_us >= $from - $lookback AND time_us < $to)
SELECT time_us // $minute AS minute, sum(increase) / 60.0 AS value
FROM points WHERE increase IS NOT NULL AND time_us >= $from GROUP BY minute
"""

MEMORY = """
SELECT time_us // $minute AS minute, avg(value) AS value
FROM metrics WHERE service = $service AND name = 'process.memory.usage'
  AND time_us >= $from AND time_us < $to GROUP BY minute
"""


def timed(con, sql, params, runs):
    times, rows = [], None
    for _ in range(runs):
        began = time.perf_counter()
        rows = con.execute(sql, params).fetchall()
        times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times), dict(rows)


def main() -> None:
    service, from_us, to_us, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    paths = sys.argv[5:]
    con = duckdb.connect()
    files = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    con.execute(f"CREATE VIEW metrics AS SELECT * FROM read_parquet([{files}])")
    params = {"service": service, "from": from_us, "to": to_us, "minute": MINUTE_US}
    cpu_ms, cpu = timed(con, CPU, {**params, "lookback": LOOKBACK_US}, runs)
    memory_ms, memory = timed(con, MEMORY, params, runs)
    minutes = range(from_us // MINUTE_US, (to_us + MINUTE_US - 1) // MINUTE_US)
    print(json.dumps({
        "cpu_ms": cpu_ms,
        "memory_ms": memory_ms,
        "cpu": [cpu.get(m) for m in minutes],
        "memory": [memory.get(m) for m in minutes],
    }))


if __name__ == "__main__":
    main()
