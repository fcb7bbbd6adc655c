"""Reads one Fluoro log block with DuckDB and prints what the test checks, as JSON.

Usage: duckdb_logs.py BLOCK.parquet TRACE_HI TRACE_LO

Only the documented schema (store/src/logs/block.rs) is known here: the blocks are plain Parquet.
"""

import json
import sys

import duckdb


def main() -> None:
    path, trace_hi, trace_lo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    con = duckdb.connect()
    quoted = "'" + path.replace("'", "''") + "'"
    con.execute(f"CREATE VIEW logs AS SELECT * FROM read_parquet({quoted})")
    trace_lines = con.execute(
        "SELECT body FROM logs WHERE trace_hi = ? AND trace_lo = ? ORDER BY time_us, sequence",
        [trace_hi, trace_lo],
    ).fetchall()
    result = {
        "rows": con.execute("SELECT count(*) FROM logs").fetchone()[0],
        "without_trace": con.execute("SELECT count(*) FROM logs WHERE trace_hi IS NULL").fetchone()[0],
        "errors": con.execute("SELECT count(*) FROM logs WHERE severity_number >= 17").fetchone()[0],
        "trace_lines": [row[0] for row in trace_lines],
        "attribute": con.execute(
            "SELECT json_extract_string(attributes, '$[0][1]') FROM logs WHERE severity_number >= 17 LIMIT 1"
        ).fetchone()[0],
        "footer": con.execute(
            "SELECT value FROM parquet_kv_metadata(?) WHERE key = 'fluoro.block'", [path]
        ).fetchone()[0].decode(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
