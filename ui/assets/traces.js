// The Traces page (`/traces`): a filter bar whose parse error points at its column, the time
// range, the response-time distribution of the matching traces (drag a range to narrow the
// list) and the sortable, paginated table of trace summaries.

import * as api from "./api.js";
import { h, link, replace } from "./dom.js";
import { histogramChart } from "./charts.js";
import { duration, timestamp } from "./format.js";
import * as live from "./live.js";
import { picker, windowOf } from "./time_range.js";

const COLUMNS = [
  { key: "id", label: "ID", value: (s) => s.Id },
  { key: "start", label: "Start", value: (s) => s.StartTime ?? 0, numeric: true },
  { key: "rt", label: "Response time", value: (s) => s.ResponseTime ?? -1, numeric: true },
  { key: "duration", label: "Duration", value: (s) => s.Duration ?? -1, numeric: true },
  { key: "method", label: "Method", value: (s) => s.Http?.HttpMethod ?? "" },
  { key: "url", label: "URL", value: (s) => s.Http?.HttpURL ?? "" },
  { key: "status", label: "Status", value: (s) => s.Http?.HttpStatus ?? -1, numeric: true },
  { key: "services", label: "Services", value: (s) => serviceNames(s).join(", ") },
  { key: "rootcause", label: "Root cause", value: (s) => rootCause(s) },
];

function serviceNames(summary) {
  return [...new Set((summary.ServiceIds || []).map((service) => service.Name).filter(Boolean))];
}

/** The deepest service and its first exception of the first fault (else error, else latency) root cause. */
export function rootCause(summary) {
  for (const [kind, causes] of [["fault", summary.FaultRootCauses], ["error", summary.ErrorRootCauses], ["slow", summary.ResponseTimeRootCauses]]) {
    const services = causes?.[0]?.Services;
    if (!services?.length) continue;
    const service = services[services.length - 1];
    const path = service.EntityPath || [];
    const exception = path.flatMap((entity) => entity.Exceptions || [])[0];
    const entity = path[path.length - 1]?.Name;
    return `${kind}: ${service.Name}${entity && entity !== service.Name ? ` › ${entity}` : ""}${exception ? ` (${exception.Name}${exception.Message ? `: ${exception.Message}` : ""})` : ""}`;
  }
  return "";
}

/** The expression the list asks for: the user's filter narrowed to the dragged range. */
export function listExpression(filter, rtMin, rtMax) {
  const range = rtMin !== null && rtMax !== null ? `responsetime >= ${rtMin} AND responsetime <= ${rtMax}` : "";
  if (filter && range) return `(${filter}) AND ${range}`;
  return filter || range;
}

/** The expression with a caret under the column where it went wrong, and the message. */
export function filterErrorElement(expression, error) {
  const column = error.column;
  const box = h("div", { class: "filter-error", id: "filter-error", role: "alert", "data-column": column ?? "" });
  if (column !== null && column !== undefined) {
    box.append(h("pre", { class: "caret-line" }, expression, "\n", " ".repeat(Math.max(0, column - 1)), "^"));
  }
  box.append(h("p", { class: "message" }, error.message));
  return box;
}

function rangeOf(params) {
  const min = params.get("rtmin");
  const max = params.get("rtmax");
  return min !== null && max !== null && Number.isFinite(Number(min)) && Number.isFinite(Number(max)) ? [Number(min), Number(max)] : [null, null];
}

export function render(root, ctx, initialParams) {
  let params = initialParams;
  let rows = [];
  let nextToken = null;
  let processed = 0;
  const filterInput = h("input", { id: "filter", type: "search", class: "filter-input", spellcheck: "false", autocomplete: "off",
    "aria-label": "Filter expression", placeholder: 'e.g. responsetime > 3 AND http.status = 500, service("api") { fault }' });
  const form = h("form", { class: "filter-bar", id: "filter-form" },
    filterInput, h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.setParams({ filter: filterInput.value.trim(), rtmin: null, rtmax: null });
  });
  const errorHost = h("div", { id: "filter-error-host" });
  const rangeHost = h("span", { class: "toolbar" });
  const chip = h("div", { id: "range-chip", class: "chip-host" });
  const chartHost = h("div", { class: "chart wide", id: "traces-histogram" });
  const summaryLine = h("p", { class: "status", id: "traces-status" });
  const table = h("table", { class: "traces", id: "traces-table" });
  const more = h("button", { type: "button", id: "load-more", class: "hidden", onclick: () => loadPage("more").catch((error) => { summaryLine.textContent = `Cannot load more: ${error.message}`; }) }, "Load more");
  root.append(h("h1", {}, "Traces"), form, errorHost, rangeHost,
    h("h3", {}, "Response time distribution"), chartHost, chip, summaryLine,
    h("div", { class: "table-scroll" }, table), more);

  function sortKey() {
    return { key: params.get("sort") || "start", descending: params.get("dir") !== "asc" };
  }

  function drawTable() {
    const { key, descending } = sortKey();
    const column = COLUMNS.find((c) => c.key === key) || COLUMNS[1];
    const sorted = [...rows].sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      const order = column.numeric ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
    const header = h("tr", {}, COLUMNS.map((c) => h("th", {
      scope: "col", "data-sort": c.key, class: c.key === column.key ? "sorted" : null,
      "aria-sort": c.key === column.key ? (descending ? "descending" : "ascending") : "none",
    }, h("button", { type: "button", class: "sort", onclick: () => ctx.setParams({ sort: c.key, dir: c.key === column.key && descending ? "asc" : "desc" }, { replace: true }) },
      c.label, c.key === column.key ? (descending ? " ▼" : " ▲") : ""))));
    const body = h("tbody", {}, sorted.map((summary) => summaryRow(summary)));
    replace(table, h("thead", {}, header), body);
    more.classList.toggle("hidden", !nextToken);
    summaryLine.textContent = `${rows.length} trace${rows.length === 1 ? "" : "s"} shown${nextToken ? " (more available)" : ""}; ${processed} scanned.`;
  }

  function summaryRow(summary) {
    const flags = ["HasFault", "HasError", "HasThrottle"].filter((flag) => summary[flag]).map((flag) => flag.slice(3).toLowerCase());
    const query = ctx.params();
    const back = new URLSearchParams();
    for (const key of ["range", "start", "end"]) if (query.get(key)) back.set(key, query.get(key));
    return h("tr", { "data-trace-id": summary.Id, class: flags[0] || "ok" },
      h("td", { class: "mono" }, link(`/traces/${encodeURIComponent(summary.Id)}${back.size ? `?${back}` : ""}`, { class: "trace-link" }, summary.Id)),
      h("td", {}, timestamp(summary.StartTime)),
      h("td", { class: "num", "data-seconds": summary.ResponseTime ?? "" }, duration(summary.ResponseTime)),
      h("td", { class: "num" }, duration(summary.Duration)),
      h("td", {}, summary.Http?.HttpMethod ?? ""),
      h("td", { class: "url" }, summary.Http?.HttpURL ?? ""),
      h("td", { class: "num" }, summary.Http?.HttpStatus ?? "", flags.map((flag) => h("span", { class: `badge ${flag}` }, flag))),
      h("td", {}, serviceNames(summary).join(", ")),
      h("td", { class: "root-cause" }, rootCause(summary)));
  }

  function drawChip() {
    const [min, max] = rangeOf(params);
    if (min === null) return replace(chip);
    replace(chip, h("span", { class: "chip", id: "range-filter" }, `response time ${duration(min)} – ${duration(max)}`,
      h("button", { type: "button", class: "chip-close", "aria-label": "Clear the range", onclick: () => ctx.setParams({ rtmin: null, rtmax: null }) }, "×")));
  }

  function showError(error, expression) {
    replace(errorHost, filterErrorElement(expression, error));
  }

  async function loadHistogram() {
    const window = windowOf(params);
    const filter = params.get("filter") || undefined;
    const [min, max] = rangeOf(params);
    const report = await api.histogram({ start: window.start, end: window.end, filter });
    const entries = report.ResponseTime?.Distribution || [];
    // Unchanged data keeps the chart, so a refresh never interrupts a drag.
    const drawn = JSON.stringify([entries, min, max]);
    if (drawn === drawnHistogram && chartHost.firstChild) return;
    drawnHistogram = drawn;
    replace(chartHost);
    if (!entries.length) return chartHost.append(h("p", { class: "muted" }, "No traces match."));
    histogramChart(chartHost, [{ label: "traces", entries }], {
      selection: min === null ? null : { min, max },
      onSelect: (from, to) => ctx.setParams({ rtmin: from.toFixed(3), rtmax: to.toFixed(3) }),
    });
  }

  let pagesLoaded = 0;
  let tokenWindow = null;
  let drawnHistogram = null;
  let drawnRows = null;

  /** `mode`: "first" (a new query), "more" (the next page) or "refresh" (live: the first page again). */
  async function loadPage(mode) {
    // A NextToken is bound to its query, window included: later pages reuse the first page's window.
    const window = mode === "more" ? tokenWindow : windowOf(params);
    const [min, max] = rangeOf(params);
    const expression = listExpression(params.get("filter") || "", min, max);
    const token = mode === "more" ? nextToken : undefined;
    const page = await api.traceSummaries({ start: window.start, end: window.end, filter: expression || undefined, nextToken: token });
    const fresh = page.TraceSummaries || [];
    if (mode === "more") {
      rows = rows.concat(fresh);
      pagesLoaded += 1;
      processed += page.TracesProcessedCount || 0;
      nextToken = page.NextToken || null;
    } else if (mode === "refresh" && pagesLoaded > 1) {
      // Pages loaded by the user stay; new traces of the first page join them.
      const ids = new Set(fresh.map((summary) => summary.Id));
      rows = fresh.concat(rows.filter((row) => !ids.has(row.Id)));
    } else {
      rows = fresh;
      tokenWindow = window;
      pagesLoaded = 1;
      processed = page.TracesProcessedCount || 0;
      nextToken = page.NextToken || null;
    }
    const drawn = JSON.stringify([rows, nextToken, processed]);
    if (mode === "refresh" && drawn === drawnRows) return;
    drawnRows = drawn;
    drawTable();
  }

  async function load({ refresh = false } = {}) {
    // A live refresh leaves the box alone: the user may be typing the next filter.
    if (!refresh) filterInput.value = params.get("filter") || "";
    drawChip();
    try {
      await loadHistogram();
      replace(errorHost);
    } catch (error) {
      if (error.status === 400) {
        showError(error, params.get("filter") || "");
        replace(chartHost);
        drawnHistogram = null;
        drawnRows = null;
        rows = [];
        nextToken = null;
        replace(table);
        summaryLine.textContent = "";
        return;
      }
      replace(chartHost, h("p", { class: "error" }, `Cannot load the distribution: ${error.message}`));
    }
    try {
      await loadPage(refresh ? "refresh" : "first");
      live.refreshed();
    } catch (error) {
      summaryLine.textContent = `Cannot load the traces: ${error.message}`;
    }
  }

  replace(rangeHost, picker(params, (changes) => ctx.setParams(changes)));
  load();
  live.watch(() => load({ refresh: true }));
  return {
    update(next) {
      const onlySort = ["filter", "range", "start", "end", "rtmin", "rtmax"].every((key) => next.get(key) === params.get(key));
      params = next;
      if (onlySort) return drawTable();
      replace(rangeHost, picker(params, (changes) => ctx.setParams(changes)));
      load();
    },
  };
}
