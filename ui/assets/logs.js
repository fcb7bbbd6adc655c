// The Logs page (`/logs`): log lines searched by service, minimum severity, text and time range,
// newest first, a page at a time (the API's NextToken); a line written inside a span links to
// its trace. The search lives in the URL (`service`, `severity`, `text`, and the time range).

import * as api from "./api.js";
import { h, link, replace } from "./dom.js";
import * as live from "./live.js";
import { logRow, SEVERITIES } from "./log_line.js";
import { picker, windowOf } from "./time_range.js";

const PAGE_SIZE = 100;
const SEARCH_KEYS = ["service", "severity", "text", "range", "start", "end"];

/** The search the URL asks for, as `searchLogs` takes it (without the window). */
export function searchOf(params) {
  return {
    service: params.get("service")?.trim() || undefined,
    severity: SEVERITIES.includes(params.get("severity")) ? params.get("severity") : undefined,
    text: params.get("text") || undefined,
  };
}

/** Two pages may meet at the same line: a line's identity is everything it carries. */
function lineKey(line) {
  return JSON.stringify([line.Time, line.ObservedTime, line.Service, line.TraceId, line.SegmentId, line.Body]);
}

export function render(root, ctx, initialParams) {
  let params = initialParams;
  let lines = [];
  let nextToken = null;
  let tokenWindow = null;
  let pagesLoaded = 0;
  let drawn = null;

  const service = h("input", { id: "logs-service", type: "search", "aria-label": "Service", placeholder: "service", autocomplete: "off" });
  const severity = h("select", { id: "logs-severity", "aria-label": "Minimum severity" },
    h("option", { value: "" }, "any severity"),
    SEVERITIES.map((name) => h("option", { value: name }, `${name} and above`)));
  const text = h("input", { id: "logs-text", type: "search", class: "filter-input", "aria-label": "Text", placeholder: "text in the message", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "filter-bar", id: "logs-form" }, service, severity, text, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.setParams({ service: service.value.trim(), severity: severity.value, text: text.value });
  });
  const rangeHost = h("span", { class: "toolbar" });
  const status = h("p", { class: "status", id: "logs-status" });
  const body = h("tbody", {});
  const table = h("table", { class: "list logs", id: "logs-table" },
    h("thead", {}, h("tr", {}, ["Time", "Service", "Severity", "Message", "Trace"].map((label) => h("th", { scope: "col" }, label)))),
    body);
  const more = h("button", { type: "button", id: "logs-more", class: "hidden" }, "Load more");
  more.addEventListener("click", () => loadPage("more").catch((error) => { status.textContent = `Cannot load more: ${error.message}`; }));
  root.append(h("h1", {}, "Logs"), form, rangeHost, status, h("div", { class: "table-scroll" }, table), more);

  function traceCell(line) {
    if (!line.TraceId) return h("td", { class: "muted" }, "–");
    const back = new URLSearchParams();
    for (const key of ["range", "start", "end"]) if (params.get(key)) back.set(key, params.get(key));
    const href = `/traces/${encodeURIComponent(line.TraceId)}${back.size ? `?${back}` : ""}`;
    return h("td", { class: "mono" }, link(href, { class: "trace-link" }, line.TraceId));
  }

  function draw() {
    replace(body, lines.map((line) => logRow(line, traceCell(line))));
    more.classList.toggle("hidden", !nextToken);
    status.textContent = lines.length
      ? `${lines.length} log line${lines.length === 1 ? "" : "s"} shown, newest first${nextToken ? " (more available)" : ""}`
      : "No log lines match.";
  }

  /** `mode`: "first" (a new search), "more" (the next page) or "refresh" (live: the first page again). */
  async function loadPage(mode) {
    // A NextToken continues its own search: later pages reuse the first page's window.
    const window = mode === "more" ? tokenWindow : windowOf(params);
    const page = await api.searchLogs({
      ...searchOf(params), start: window.start, end: window.end, limit: PAGE_SIZE,
      nextToken: mode === "more" ? nextToken : undefined,
    });
    const fresh = page.Logs || [];
    if (mode === "more") {
      lines = lines.concat(fresh);
      pagesLoaded += 1;
      nextToken = page.NextToken || null;
    } else if (mode === "refresh" && pagesLoaded > 1) {
      // The pages the user loaded stay; new lines of the first page join them on top.
      const keys = new Set(fresh.map(lineKey));
      lines = fresh.concat(lines.filter((line) => !keys.has(lineKey(line))));
    } else {
      lines = fresh;
      tokenWindow = window;
      pagesLoaded = 1;
      nextToken = page.NextToken || null;
    }
    const now = JSON.stringify([lines, nextToken]);
    if (mode === "refresh" && now === drawn) return;
    drawn = now;
    draw();
  }

  async function load({ refresh = false } = {}) {
    try {
      await loadPage(refresh ? "refresh" : "first");
      live.refreshed();
    } catch (error) {
      status.textContent = `Cannot search the logs: ${error.message}`;
    }
  }

  function showSearch() {
    const search = searchOf(params);
    service.value = search.service ?? "";
    severity.value = search.severity ?? "";
    text.value = search.text ?? "";
    replace(rangeHost, picker(params, (changes) => ctx.setParams(changes)));
  }

  showSearch();
  load();
  live.watch(() => load({ refresh: true }));
  return {
    update(next) {
      const same = SEARCH_KEYS.every((key) => next.get(key) === params.get(key));
      params = next;
      if (same) return;
      showSearch();
      load();
    },
  };
}
