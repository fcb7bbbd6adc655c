"""Queries span blocks where they lie in a bucket's layout (docs/scale-out.md, "Querying the
blocks in place") with DuckDB, and prints what the test checks, as JSON.

Usage: duckdb_bucket_layout.py ROOT

ROOT is the bucket prefix as a local directory (a `file://` bucket); against S3 the same SQL
runs with `s3://bucket/prefix` as ROOT after `LOAD httpfs` and a `CREATE SECRET`.
"""

import json
import sys

import duckdb

# The view of docs/scale-out.md: published blocks only (a data object without its marker is
# left out), one version per span (a completed version beats an in-progress one, then the
# highest sequence: the store's replace rule).
VIEW = """
CREATE VIEW spans AS
SELECT * EXCLUDE (filename)
FROM read_parquet('{root}/blocks/*.parquet', filename = true, union_by_name = true)
WHERE parse_filename(filename) IN (SELECT parse_filename(file) FROM glob('{root}/published/*.parquet'))
QUALIFY row_number() OVER (PARTITION BY trace_hi, trace_lo, id ORDER BY in_progress, sequence DESC) = 1
"""


def main() -> None:
    root = sys.argv[1].rstrip("/").replace("'", "''")
    con = duckdb.connect()
    con.execute(VIEW.format(root=root))
    result = {
        "spans": con.execute("SELECT count(*) FROM spans").fetchone()[0],
        "traces": con.execute("SELECT count(DISTINCT (trace_hi, trace_lo)) FROM spans").fetchone()[0],
        "by_service": dict(con.execute("SELECT service, count(*) FROM spans GROUP BY service").fetchall()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
