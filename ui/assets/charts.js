// Charts over uPlot (vendored): response-time histograms on which a range is selected by
// dragging, and time series. Units on the axes and a legend with hover values, as Grafana's
// panels read.

import uPlot from "./vendor/uPlot.esm.js";
import { duration } from "./format.js";

const HEIGHT = 170;

function widthOf(container) {
  return Math.max(260, Math.floor(container.getBoundingClientRect().width || 0) - 8);
}

/**
 * Bars of X-Ray histograms `[{Value, Count}]` (seconds) overlaid, one series each
 * (`[{label, entries, className, stroke, fill}]`). Dragging across the plot calls
 * `onSelect(minSeconds, maxSeconds)`; `selection` ({min, max}) is drawn again after a refresh.
 */
export function histogramChart(container, series, { onSelect, selection, xLabel = "response time" } = {}) {
  const xs = [...new Set(series.flatMap((s) => s.entries.map((entry) => entry.Value)))].sort((a, b) => a - b);
  const data = [xs, ...series.map((s) => {
    const byValue = new Map(s.entries.map((entry) => [entry.Value, entry.Count]));
    return xs.map((x) => byValue.get(x) ?? null);
  })];
  const maxX = xs.length ? xs[xs.length - 1] : 1;
  const options = {
    width: widthOf(container),
    height: HEIGHT,
    legend: { show: series.length > 1 },
    cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
    scales: { x: { time: false, range: () => [0, maxX * 1.08 || 1] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [
      { label: `${xLabel} (drag to select)`, values: (u, ticks) => ticks.map((tick) => duration(tick)), labelSize: 18 },
      { label: "traces", labelSize: 18, size: 44 },
    ],
    series: [
      { label: "response time", value: (u, value) => (value === null ? "–" : duration(value)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke || "#2f6fb7",
        fill: s.fill || "rgba(47, 111, 183, 0.35)",
        paths: uPlot.paths.bars({ size: [0.9, 24], align: 0 }),
        points: { show: false },
      })),
    ],
    hooks: {
      setSelect: [(u) => {
        if (!onSelect || u.select.width < 3) return;
        const min = Math.max(0, u.posToVal(u.select.left, "x"));
        const max = u.posToVal(u.select.left + u.select.width, "x");
        onSelect(min, max);
      }],
    },
  };
  const chart = new uPlot(options, data, container);
  if (selection) showSelection(chart, selection);
  return chart;
}

function showSelection(chart, { min, max }) {
  const left = chart.valToPos(min, "x");
  const right = chart.valToPos(max, "x");
  chart.setSelect({ left, width: Math.max(2, right - left), top: 0, height: chart.over.clientHeight || HEIGHT }, false);
}

/**
 * A time series from GetTimeSeriesServiceStatistics: requests and faults per period (left
 * axis, count) and the average response time (right axis, seconds).
 */
export function timeSeriesChart(container, points, periodSeconds) {
  const timestamps = points.map((point) => point.Timestamp);
  const stats = points.map((point) => point.ServiceSummaryStatistics || point.EdgeSummaryStatistics || {});
  const requests = stats.map((s) => s.TotalCount ?? 0);
  const faults = stats.map((s) => s.FaultStatistics?.TotalCount ?? 0);
  const errors = stats.map((s) => (s.ErrorStatistics?.TotalCount ?? 0));
  const latency = stats.map((s) => (s.TotalCount ? (s.TotalResponseTime || 0) / s.TotalCount : null));
  const options = {
    width: widthOf(container),
    height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, count: { range: (u, min, max) => [0, Math.max(1, max)] }, seconds: {} },
    axes: [
      {},
      { scale: "count", label: `per ${periodSeconds} s`, labelSize: 18, size: 44 },
      { scale: "seconds", side: 1, label: "avg latency", labelSize: 18, size: 56, grid: { show: false },
        values: (u, ticks) => ticks.map((tick) => duration(tick)) },
    ],
    series: [
      {},
      { label: "requests", scale: "count", stroke: "#2f6fb7", width: 2 },
      { label: "errors", scale: "count", stroke: "#e07b00", width: 2 },
      { label: "faults", scale: "count", stroke: "#d13212", width: 2 },
      { label: "avg latency", scale: "seconds", stroke: "#6b6b6b", dash: [4, 3], value: (u, v) => (v === null ? "–" : duration(v)) },
    ],
  };
  return new uPlot(options, [timestamps, requests, errors, faults, latency], container);
}

/** Bytes as a person reads them (binary units, as `ps` and `top` show resident memory). */
export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${scaled.toFixed(scaled >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * One resource of `/api/services/resources`' buckets (`column`: "Cpu" or "Memory") on the left
 * axis, with the fault rate of the same buckets on the right, so that a climb and the failures
 * it causes read on one chart. `format` writes the resource's values.
 */
export function resourceChart(container, buckets, { column, label, format }) {
  const timestamps = buckets.map((bucket) => bucket.Timestamp);
  const values = buckets.map((bucket) => bucket[column] ?? null);
  const faults = buckets.map((bucket) => (bucket.FaultRate === null || bucket.FaultRate === undefined ? null : bucket.FaultRate * 100));
  const options = {
    width: widthOf(container),
    height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, resource: { range: (u, min, max) => [0, Math.max(max * 1.1, 1e-9)] }, share: { range: [0, 100] } },
    axes: [
      {},
      { scale: "resource", label, labelSize: 18, size: 76, values: (u, ticks) => ticks.map((tick) => format(tick)) },
      { scale: "share", side: 1, label: "faults %", labelSize: 18, size: 44, grid: { show: false } },
    ],
    series: [
      {},
      { label, scale: "resource", stroke: "#2f6fb7", fill: "rgba(47, 111, 183, 0.15)", width: 2, spanGaps: true, value: (u, v) => format(v) },
      { label: "faults %", scale: "share", stroke: "#d13212", width: 2, value: (u, v) => (v === null ? "–" : `${v.toFixed(1)} %`) },
    ],
  };
  return new uPlot(options, [timestamps, values, faults], container);
}
