// The side panel of the service map: the selected node's or edge's statistics, its
// response-time histogram (drag a range to open its traces), its time series, and buttons
// that open the Traces page pre-filtered.

import * as api from "./api.js";
import { h, link, replace } from "./dom.js";
import { bytes, histogramChart, resourceChart, timeSeriesChart } from "./charts.js";
import { counts, duration, percent, percentiles, quoted, serviceStatistics } from "./format.js";

/** The service or edge the selection names in the graph, or null. */
function find(selected, services) {
  if (selected.node !== undefined) {
    const service = services.find((s) => s.Name === selected.node && (selected.type === undefined || (s.Type || "") === selected.type))
      || services.find((s) => s.Name === selected.node);
    return service ? { kind: "node", service, statistics: serviceStatistics(service), histogram: service.ResponseTimeHistogram } : null;
  }
  for (const source of services) {
    if (source.Name !== selected.from) continue;
    for (const edge of source.Edges || []) {
      const target = services.find((s) => s.ReferenceId === edge.ReferenceId);
      if (target?.Name === selected.to) {
        return { kind: "edge", source, target, edge, statistics: edge.SummaryStatistics, histogram: edge.ResponseTimeHistogram };
      }
    }
  }
  return null;
}

/** The filter expression selecting the traces through this node or edge, optionally `{ inner }`. */
export function scopeExpression(found, inner) {
  let scope;
  if (found.kind === "node") scope = `service(${quoted(found.service.Name)})`;
  else if (found.source.Type === "client") scope = `service(${quoted(found.target.Name)})`;
  else scope = `edge(${quoted(found.source.Name)}, ${quoted(found.target.Name)})`;
  return inner ? `${scope} { ${inner} }` : scope;
}

function statisticsElement(found, windowSeconds) {
  const c = counts(found.statistics);
  const [p50, p90, p99] = percentiles(found.histogram);
  const row = (label, value, share) => h("tr", { "data-stat": label.toLowerCase() },
    h("th", { scope: "row" }, label), h("td", { class: "num" }, String(value)), h("td", { class: "num" }, share ?? ""));
  return h("div", { id: "panel-stats" },
    h("table", { class: "stats" },
      h("tbody", {},
        row("Requests", c.total, `${((c.total * 60) / (windowSeconds || 1)).toFixed(1)}/min`),
        row("OK", c.ok, percent(c.ok, c.total)),
        row("Errors", c.error, percent(c.error, c.total)),
        row("Throttles", c.throttle, percent(c.throttle, c.total)),
        row("Faults", c.fault, percent(c.fault, c.total)),
        row("Average", c.averageSeconds === null ? "–" : duration(c.averageSeconds)),
        row("p50", duration(p50)),
        row("p90", duration(p90)),
        row("p99", duration(p99)))));
}

function tracesUrl(expression, pc) {
  const params = new URLSearchParams();
  params.set("filter", expression);
  for (const key of ["range", "start", "end"]) {
    const value = pc.ctx.params().get(key);
    if (value) params.set(key, value);
  }
  return `/traces?${params}`;
}

function traceButtons(found, pc) {
  const button = (label, inner, kind) => link(tracesUrl(scopeExpression(found, inner), pc), { class: ["button", kind], "data-action": kind }, label);
  return h("div", { class: "actions", id: "panel-actions" },
    button("All traces", null, "all"),
    button("Faults", "fault", "fault"),
    button("Errors", "error", "error"),
    button("Throttles", "throttle", "throttle"));
}

/** Draws the panel for `selected`; `pc` holds the graph, the window, the group and the router context. */
export function renderPanel(panel, selected, pc) {
  const found = find(selected, pc.services);
  const close = h("button", { type: "button", class: "close", "aria-label": "Close the panel", onclick: pc.close }, "×");
  if (!found) {
    replace(panel, close, h("p", { class: "status" }, "The selection is not in this time range's map."));
    return;
  }
  const title = found.kind === "node"
    ? h("h2", { id: "panel-title" }, found.service.Name)
    : h("h2", { id: "panel-title" }, found.source.Name, " → ", found.target.Name);
  const subtitle = h("p", { class: "muted" }, found.kind === "node" ? (found.service.Type || "service") : "edge");
  const rangeNote = h("p", { class: "range-note", id: "panel-range" }, "Drag across the histogram to select a latency range.");
  const histogramHost = h("div", { class: "chart", id: "panel-histogram" });
  const seriesHost = h("div", { class: "chart", id: "panel-timeseries" });
  const resourcesHost = h("div", { id: "panel-resources" });
  const ofAService = found.kind === "node" && found.service.Type !== "client";
  replace(panel, close, title, subtitle, statisticsElement(found, pc.window.seconds), traceButtons(found, pc),
    h("h3", {}, "Response time distribution"), histogramHost, rangeNote,
    h("h3", {}, "Over time"), seriesHost,
    ...(ofAService ? [h("h3", {}, "CPU and memory"), resourcesHost] : []));
  const entries = found.histogram || [];
  if (!entries.length) histogramHost.append(h("p", { class: "muted" }, "No completed requests."));
  else {
    histogramChart(histogramHost, [{ label: "requests", entries }], {
      xLabel: "response time",
      onSelect: (min, max) => {
        const inner = `responsetime >= ${min.toFixed(3)} AND responsetime <= ${max.toFixed(3)}`;
        replace(rangeNote, `Selected ${duration(min)} – ${duration(max)}. `,
          link(tracesUrl(scopeExpression(found, inner), pc), { class: "button", "data-action": "range" }, "Traces in this range"));
      },
    });
  }
  loadTimeSeries(seriesHost, found, pc);
  if (ofAService) loadResources(resourcesHost, found.service.Name, pc);
}

/** Updates only the numbers after a live refresh: the charts and a dragged range stay. */
export function refreshPanel(panel, selected, pc) {
  const found = find(selected, pc.services);
  const stats = panel.querySelector("#panel-stats");
  if (found && stats) stats.replaceWith(statisticsElement(found, pc.window.seconds));
}

/** The bucket of the panel's charts: the same for the traces' series and the resources'. */
function periodOf(window) {
  return window.seconds > 6 * 3600 ? 300 : 60;
}

async function loadTimeSeries(host, found, pc) {
  const selector = found.kind === "node"
    ? `service(${quoted(found.service.Name)})`
    : `edge(${quoted(found.source.Name)}, ${quoted(found.target.Name)})`;
  const period = periodOf(pc.window);
  try {
    const points = await api.timeSeries({ start: pc.window.start, end: pc.window.end, group: pc.group, selector, period });
    if (!points.length) return replace(host, h("p", { class: "muted" }, "No data over time."));
    replace(host);
    timeSeriesChart(host, points, period);
  } catch (error) {
    replace(host, h("p", { class: "error" }, `Cannot load the time series: ${error.message}`));
  }
}

/**
 * The service's CPU and resident memory (from the metrics it exported) in the buckets of the
 * traces' series, each with its fault rate; a service that exported none gets a note.
 */
async function loadResources(host, service, pc) {
  const period = periodOf(pc.window);
  try {
    const view = await api.serviceResources({ start: pc.window.start, end: pc.window.end, service, period });
    const buckets = view.Buckets || [];
    const charts = [
      { source: view.CpuSource, column: "Cpu", id: "panel-cpu", label: "CPU (cores)", format: (v) => (v === null ? "–" : v.toFixed(2)) },
      { source: view.MemorySource, column: "Memory", id: "panel-memory", label: "resident memory", format: bytes },
    ].filter((chart) => chart.source);
    if (!charts.length) {
      return replace(host, h("p", { class: "muted", id: "panel-resources-note" }, "This service exported no CPU or memory metrics in this range."));
    }
    replace(host);
    for (const chart of charts) {
      const points = buckets.filter((bucket) => bucket[chart.column] !== null && bucket[chart.column] !== undefined).length;
      const chartHost = h("div", { class: "chart", id: chart.id, "data-points": String(points), title: `from ${chart.source.Metric}` });
      host.append(chartHost);
      resourceChart(chartHost, buckets, chart);
    }
  } catch (error) {
    replace(host, h("p", { class: "error" }, `Cannot load the CPU and memory: ${error.message}`));
  }
}
