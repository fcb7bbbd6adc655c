"""Regenerates BENCHMARKS.md's "Query cost as data grows" tables and its plot from
query_scaling's JSON (benches/src/bin/query_scaling.rs); no dependencies beyond the standard
library, the SVG is written by hand.

Usage:
  python3 benches/python/query_scaling_report.py --run [query_scaling flags...]
      builds and runs the benchmark (release, CARGO_TARGET_DIR or target/), then reports
  python3 benches/python/query_scaling_report.py --from target/query-scaling.json
      reports an earlier run's JSON

Writes docs/query-scaling.svg and replaces the text between the `query-scaling:begin` and
`query-scaling:end` markers of BENCHMARKS.md.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JSON_PATH = ROOT / "target" / "query-scaling.json"
SVG_PATH = ROOT / "docs" / "query-scaling.svg"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- query-scaling:begin -->", "<!-- query-scaling:end -->"
SERIES = [  # (key, measure, label, colour, dashed)
    ("filter", "fluoro_ms", "filter, Fluoro", "#1f77b4", False),
    ("filter", "duckdb_ms", "filter, DuckDB", "#1f77b4", True),
    ("graph", "fluoro_ms", "service graph, Fluoro", "#d62728", False),
    ("graph", "duckdb_ms", "service graph, DuckDB", "#d62728", True),
    ("histogram", "fluoro_ms", "histogram, Fluoro", "#2ca02c", False),
    ("histogram", "duckdb_ms", "histogram, DuckDB", "#2ca02c", True),
    ("graph", "scan_ms", "bare scan, graph's columns", "#7f7f7f", True),
]


def run_benchmark(flags):
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    command = ["cargo", "run", "--release", "-p", "fluoro-benches", "--bin", "query_scaling", "--",
               "--json", str(JSON_PATH), *flags]
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "CARGO_TARGET_DIR": target})


def ratio(timing, of):
    return f"{timing['fluoro_ms'] / timing[of]:.2f}" if timing.get(of) else "–"


def tables(report):
    lines = [
        f"{report['total_spans']:,} spans stored over {report['data_minutes']:.0f} minutes; "
        f"median of {report['runs']}; filter `{report['filter']}`.",
        "",
        "| window | spans in window | query | Fluoro | DuckDB | Fluoro / DuckDB | bare scan (rows) | Fluoro / scan |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = report["windows"] + [report["window_alone"]]
    for window in rows:
        for key, name in (("filter", "filter"), ("graph", "service graph"), ("histogram", "histogram")):
            t = window[key]
            duck = f"{t['duckdb_ms']:.0f} ms" if t.get("duckdb_ms") else "–"
            lines.append(
                f"| {window['label']} ({window['minutes']:.0f} min) | {window['spans']:,} | {name} | "
                f"{t['fluoro_ms']:.0f} ms | {duck} | {ratio(t, 'duckdb_ms')} | "
                f"{t['scan_ms']:.0f} ms ({t['scan_rows']:,}) | {ratio(t, 'scan_ms')} |")
    lines += [
        "",
        f"| window | map call (`POST /ServiceGraph`, median) | BatchGetTraces p50 | p99 "
        f"({report['lookups']} requests of {report['ids_per_lookup']} ids) |",
        "|---|---|---|---|",
    ]
    for window in report["windows"]:
        lines.append(f"| {window['label']} | {window['map_ms']:.0f} ms | {window['lookup_p50_ms']:.1f} ms | "
                     f"{window['lookup_p99_ms']:.1f} ms |")
    lines += ["", f"The dashboard's map call (its default window, the last 15 minutes of the data): "
                  f"{report['dashboard_map_ms']:.0f} ms.", "",
              "![query time against spans in the window](docs/query-scaling.svg)"]
    return "\n".join(lines)


def svg(report):
    """Time against spans in the window, both axes linear, so linear cost is a straight line."""
    width, height, left, right, top, bottom = 720, 440, 70, 230, 20, 50
    windows = report["windows"]
    xs = [w["spans"] for w in windows]
    points = {}
    for key, measure, label, colour, dashed in SERIES:
        values = [(w["spans"], w[key].get(measure)) for w in windows if w[key].get(measure)]
        if values:
            points[label] = (values, colour, dashed)
    x_max = max(xs) * 1.05
    y_max = max(v for values, _, _ in points.values() for _, v in values) * 1.1
    sx = lambda x: left + (width - left - right) * x / x_max
    sy = lambda y: height - bottom - (height - top - bottom) * y / y_max
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{left}" y1="{sy(0)}" x2="{sx(x_max)}" y2="{sy(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{sy(0)}" x2="{left}" y2="{top}" stroke="black"/>']
    for x in xs:
        out.append(f'<text x="{sx(x):.1f}" y="{sy(0) + 16}" text-anchor="middle">{x / 1e6:g}M</text>')
    step = nice_step(y_max)
    y = 0.0
    while y <= y_max:
        out.append(f'<line x1="{left - 4}" y1="{sy(y):.1f}" x2="{sx(x_max):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y / 1000:g} s</text>')
        y += step
    out.append(f'<text x="{(left + sx(x_max)) / 2:.0f}" y="{height - 12}" text-anchor="middle">'
               f'spans in the query window ({report["total_spans"] / 1e6:.0f}M stored)</text>')
    for i, (label, (values, colour, dashed)) in enumerate(points.items()):
        path = " ".join(f"{sx(x):.1f},{sy(v):.1f}" for x, v in values)
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{sx(x):.1f}" cy="{sy(v):.1f}" r="3" fill="{colour}"/>' for x, v in values]
        ly = top + 16 * i + 10
        out.append(f'<line x1="{width - right + 15}" y1="{ly - 4}" x2="{width - right + 40}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{width - right + 46}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def nice_step(span):
    for step in (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if span / step <= 8:
            return step
    return span / 8


def main():
    args = sys.argv[1:]
    path = JSON_PATH
    if args[:1] == ["--run"]:
        run_benchmark(args[1:])
    elif args[:1] == ["--from"] and len(args) == 2:
        path = Path(args[1])
    else:
        sys.exit(__doc__)
    report = json.loads(path.read_text())
    SVG_PATH.write_text(svg(report))
    text = BENCHMARKS.read_text()
    begin, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    BENCHMARKS.write_text(text[:begin] + "\n" + tables(report) + "\n" + text[end:])
    print(f"wrote {SVG_PATH.relative_to(ROOT)} and the section of {BENCHMARKS.name}")


if __name__ == "__main__":
    main()
