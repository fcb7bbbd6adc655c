"""DuckDB side of benches/src/bin/block_format: the same lookups and scan on the same files,
timed in-process with time.perf_counter, printed as JSON.

Usage: duckdb_blocks.py IDS_FILE FROM_US TO_US BLOCK.parquet...
"""

import json
import sys
import time

import duckdb


def main() -> None:
    ids_file, from_us, to_us, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    ids = [tuple(int(part) for part in line.split(":")) for line in open(ids_file) if line.strip()]
    con = duckdb.connect()
    # Fluoro keeps block metadata in memory; let DuckDB cache footers too.
    con.execute("SET parquet_metadata_cache = true")
    # DDL cannot take parameters: quote the paths as SQL string literals.
    quoted = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    con.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet([{quoted}])")

    times, rows = [], 0
    for hi, lo in ids:
        began = time.perf_counter()
        rows += len(con.execute("SELECT * FROM spans WHERE trace_hi = ? AND trace_lo = ?", [hi, lo]).fetchall())
        times.append((time.perf_counter() - began) * 1e3)
    times.sort()

    scan = ("SELECT service, count(*) FROM spans WHERE start_us >= ? AND start_us < ? AND fault "
            "GROUP BY service")
    best, faults = float("inf"), {}
    for _ in range(5):
        began = time.perf_counter()
        faults = dict(con.execute(scan, [from_us, to_us]).fetchall())
        best = min(best, time.perf_counter() - began)

    columns = con.execute(
        "SELECT path_in_schema, sum(total_compressed_size) AS bytes FROM parquet_metadata(?) "
        "GROUP BY path_in_schema ORDER BY bytes DESC LIMIT 8", [paths]).fetchall()
    print(json.dumps({
        "lookup_p50_ms": times[len(times) // 2],
        "lookup_p99_ms": times[round((len(times) - 1) * 0.99)],
        "lookup_rows": rows,
        "scan_seconds": best,
        "faults": faults,
        "columns": {name: bytes_ for name, bytes_ in columns},
    }))


if __name__ == "__main__":
    main()
