"""Reads one Fluoro block with DuckDB and prints what Fluoro's own test computes, as JSON.

Usage: duckdb_check.py BLOCK.parquet TRACE_HI TRACE_LO

Nothing here knows Fluoro beyond the documented schema (store/src/block/mod.rs), which is the
point: the blocks are plain Parquet.
"""

import json
import sys

import duckdb


def main() -> None:
    path, trace_hi, trace_lo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    con = duckdb.connect()
    # DDL cannot take parameters: quote the path as a SQL string literal.
    quoted = "'" + path.replace("'", "''") + "'"
    con.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet({quoted})")

    def one(sql, params=()):
        return con.execute(sql, list(params)).fetchone()[0]

    trace = "trace_hi = ? AND trace_lo = ?"
    ids = (trace_hi, trace_lo)
    footer = one("SELECT value FROM parquet_kv_metadata(?) WHERE key = 'fluoro.block'", [path])
    # How the columns Fluoro codes its own way are stored, as DuckDB reads the column chunks'
    # metadata.
    codings = con.execute(
        "SELECT DISTINCT path_in_schema, encodings, compression FROM parquet_metadata(?) "
        "WHERE path_in_schema IN ('start_us', 'end_us', 'sequence', 'document') ORDER BY 1", [path]).fetchall()
    result = {
        "rows": one("SELECT count(*) FROM spans"),
        "faults": one("SELECT count(*) FROM spans WHERE fault"),
        "in_progress": one("SELECT count(*) FROM spans WHERE in_progress"),
        "sum_duration_us": int(one("SELECT sum(end_us - start_us) FROM spans")),
        "services": [row[0] for row in con.execute(
            "SELECT DISTINCT service FROM spans WHERE service IS NOT NULL ORDER BY service").fetchall()],
        "documents": one("SELECT count(document) FROM spans"),
        "exceptions": int(one("SELECT sum(len(exceptions)) FROM spans")),
        # A key appears at most once per span, so counting matching annotations counts spans.
        "pet_ids": one("SELECT count(*) FROM (SELECT unnest(annotations) AS a FROM spans) "
                       "WHERE a.key = 'PetId' AND a.string = '023'"),
        "price_sum": one("SELECT sum(a.number) FROM (SELECT unnest(annotations) AS a FROM spans)"),
        "trace_hex": one(f"SELECT lpad(lower(hex(trace_hi)), 16, '0') || lpad(lower(hex(trace_lo)), 16, '0') "
                         f"FROM spans WHERE {trace} LIMIT 1", ids),
        "trace_rows": one(f"SELECT count(*) FROM spans WHERE {trace}", ids),
        "queue": one(f"SELECT aws_queue FROM spans WHERE {trace} AND document IS NOT NULL", ids),
        "status": one(f"SELECT http_status FROM spans WHERE {trace} AND document IS NOT NULL", ids),
        "version": json.loads(bytes(footer).decode())["version"],
        "codings": [[column, sorted(encodings.split(", ")), codec] for column, encodings, codec in codings],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
