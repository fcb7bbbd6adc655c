"""Reads one Fluoro metric block with DuckDB and prints what the test checks, as JSON.

Usage: duckdb_metrics.py BLOCK.parquet

Only the documented schema (store/src/metrics/block.rs) is known here: the blocks are plain Parquet.
"""

import json
import sys

import duckdb


def main() -> None:
    path = sys.argv[1]
    con = duckdb.connect()
    quoted = "'" + path.replace("'", "''") + "'"
    con.execute(f"CREATE VIEW metrics AS SELECT * FROM read_parquet({quoted})")
    bounds, counts, count = con.execute(
        "SELECT bounds, counts, count FROM metrics WHERE kind = 'histogram_cumulative' ORDER BY time_us DESC LIMIT 1"
    ).fetchone()
    result = {
        "rows": con.execute("SELECT count(*) FROM metrics").fetchone()[0],
        "kinds": [row[0] for row in con.execute("SELECT DISTINCT kind FROM metrics ORDER BY kind").fetchall()],
        "route_a_increase": con.execute(
            "SELECT max(value) - min(value) FROM metrics "
            "WHERE name = 'requests' AND json_extract_string(attributes, '$.route') = '/a'"
        ).fetchone()[0],
        "last_histogram": {"bounds": list(bounds), "counts": list(counts), "count": count},
        "footer": con.execute(
            "SELECT value FROM parquet_kv_metadata(?) WHERE key = 'fluoro.block'", [path]
        ).fetchone()[0].decode(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
