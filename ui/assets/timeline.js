// The trace page (`/traces/ID`): the waterfall of every segment and subsegment with its
// nesting, service and timing, error/fault/throttle marked; a row's details (http, aws, sql,
// annotations, metadata, exceptions with their stack, the raw document); the trace's log lines
// (clicking a row shows only its segment's, clicking a line selects its row), each line also a
// mark at its time on its row's bar; and the trace's own map. BatchGetTraces answers X-Ray and
// OTLP spans of one trace as documents of one tree.

import * as api from "./api.js";
import { h, link, replace, definitionList } from "./dom.js";
import { duration, timestamp } from "./format.js";
import { drawGraph } from "./map.js";
import { logRow, severityClass, severityOf } from "./log_line.js";

/**
 * The trace's entities as a forest: a segment whose parent is a subsegment of another segment
 * (a call between services, or an OTLP span under an X-Ray caller) hangs under that subsegment.
 */
export function entityTree(documents) {
  const byId = new Map();
  const nodes = [];
  const visit = (entity, service, isSegment, parent) => {
    const node = { entity, service, isSegment, children: [], parent };
    nodes.push(node);
    if (entity.id && !byId.has(entity.id)) byId.set(entity.id, node);
    for (const sub of entity.subsegments || []) node.children.push(visit(sub, service, false, node));
    return node;
  };
  const segments = documents.map((document) => visit(document, document.name ?? "", true, null));
  const roots = [];
  for (const segment of segments) {
    const parent = segment.entity.parent_id ? byId.get(segment.entity.parent_id) : null;
    if (parent && parent !== segment && !isAncestor(segment, parent)) {
      segment.parent = parent;
      parent.children.push(segment);
    } else {
      roots.push(segment);
    }
  }
  const byStart = (a, b) => (a.entity.start_time ?? 0) - (b.entity.start_time ?? 0);
  for (const node of nodes) node.children.sort(byStart);
  roots.sort(byStart);
  return roots;
}

function isAncestor(node, candidate) {
  for (let current = candidate; current; current = current.parent) if (current === node) return true;
  return false;
}

/** Depth-first rows: `{node, depth}`. */
function flatten(roots) {
  const rows = [];
  const walk = (node, depth) => {
    rows.push({ node, depth });
    for (const child of node.children) walk(child, depth + 1);
  };
  roots.forEach((root) => walk(root, 0));
  return rows;
}

function marks(entity) {
  const status = entity.http?.response?.status;
  return [
    entity.fault || status >= 500 ? "fault" : null,
    entity.throttle || status === 429 ? "throttle" : null,
    entity.error || (status >= 400 && status < 500 && status !== 429) ? "error" : null,
  ].filter(Boolean);
}

export function render(root, ctx, params, traceId) {
  const header = h("div", { class: "trace-header" });
  const waterfall = h("div", { class: "table-scroll" });
  const details = h("aside", { class: "details", id: "details", "aria-label": "Segment details" },
    h("p", { class: "muted" }, "Click a row to see its details."));
  const mapHost = h("div", { class: "map-host small", id: "trace-map" });
  const logs = logPanel(traceId, (line) => selectRowOf(line));
  const rowsById = new Map(); // entity id → {node, row}
  let placed = new Map(); // log line → entity id of the row that shows its mark
  const back = new URLSearchParams();
  for (const key of ["range", "start", "end"]) if (params.get(key)) back.set(key, params.get(key));
  root.append(
    h("p", {}, link(`/traces${back.size ? `?${back}` : ""}`, {}, "← Traces")),
    h("h1", {}, "Trace ", h("span", { class: "mono", id: "trace-id" }, traceId)),
    header,
    h("div", { class: "trace-layout" }, h("div", {}, h("h3", {}, "Timeline"), waterfall), details),
    logs.section,
    h("h3", {}, "Trace map"), mapHost);

  load();
  return { dispose: hideMarkLine };

  async function load() {
    let trace;
    try {
      trace = await api.trace(traceId);
    } catch (error) {
      replace(header, h("p", { class: "error" }, `Cannot load the trace: ${error.message}`));
      return;
    }
    if (!trace || !trace.documents.length) {
      replace(header, h("p", { class: "status" }, "No trace with this id (it may be outside retention, or still arriving)."));
      return;
    }
    const rows = flatten(entityTree(trace.documents));
    const starts = rows.map((row) => row.node.entity.start_time).filter(Number.isFinite);
    const ends = rows.map((row) => row.node.entity.end_time).filter(Number.isFinite);
    const traceStart = Math.min(...starts);
    const traceEnd = Math.max(...ends, ...starts);
    const span = Math.max(traceEnd - traceStart, 1e-6);
    const services = new Set(rows.filter((row) => row.node.isSegment).map((row) => row.node.service));
    replace(header, definitionList([
      ["Started", timestamp(traceStart)],
      ["Duration", duration(traceEnd - traceStart)],
      ["Segments", String(rows.filter((row) => row.node.isSegment).length)],
      ["Entities", String(rows.length)],
      ["Services", [...services].join(", ")],
    ], "facts inline"));
    replace(waterfall, timelineTable(rows, traceStart, span));
    loadMap();
    const lines = await logs.load();
    placed = placeLogLines(rows, lines);
    drawLogMarks(placed, traceStart, span);
  }

  /** Each line's mark on its row's track, at its time; hovering or clicking it shows the line. */
  function drawLogMarks(placement, traceStart, span) {
    for (const [line, entityId] of placement) {
      const track = rowsById.get(entityId)?.row.querySelector(".bar-track");
      if (!track) continue;
      const offset = Math.min(Math.max((line.Time - traceStart) / span, 0), 1);
      const mark = h("button", {
        type: "button", class: ["log-mark", severityClass(line.SeverityNumber)], "data-time": String(line.Time),
        "aria-label": `log line at ${timestamp(line.Time)}`, title: `${severityOf(line)} ${line.Body ?? ""}`,
      });
      mark.style.left = `${100 * offset}%`;
      const show = (event) => {
        event.stopPropagation();
        showMarkLine(mark, line);
      };
      mark.addEventListener("mouseenter", show);
      mark.addEventListener("focus", show);
      mark.addEventListener("click", (event) => {
        show(event);
        logs.highlight(line);
      });
      mark.addEventListener("mouseleave", hideMarkLine);
      mark.addEventListener("blur", hideMarkLine);
      track.append(mark);
    }
  }

  /** The line beside its mark, fixed to the window: the waterfall's scroll box would clip it. */
  function showMarkLine(mark, line) {
    hideMarkLine();
    const popup = h("div", { class: ["log-popup", severityClass(line.SeverityNumber)], role: "tooltip", id: "log-popup" },
      h("span", { class: "mono" }, timestamp(line.Time)), " ", h("strong", {}, severityOf(line)), " ",
      h("span", { class: "message" }, line.Body ?? ""));
    document.body.append(popup);
    const box = mark.getBoundingClientRect();
    popup.style.top = `${box.bottom + 4}px`;
    popup.style.left = `${Math.max(4, Math.min(box.left, window.innerWidth - popup.offsetWidth - 12))}px`;
  }

  function hideMarkLine() {
    document.getElementById("log-popup")?.remove();
  }

  /** A click on a log line in the panel: its row selected and shown, the panel left as it is. */
  function selectRowOf(line) {
    const found = rowsById.get(placed.get(line));
    if (!found) return;
    select(found.node, found.row);
    found.row.scrollIntoView({ block: "nearest" });
  }

  function select(node, row) {
    waterfall.querySelectorAll("tr.selected").forEach((other) => other.classList.remove("selected"));
    row.classList.add("selected");
    showDetails(node);
  }

  function timelineTable(rows, traceStart, span) {
    const body = h("tbody", {});
    for (const { node, depth } of rows) {
      const entity = node.entity;
      const start = (entity.start_time ?? traceStart) - traceStart;
      const end = entity.end_time ?? (entity.in_progress ? traceStart + span : entity.start_time ?? traceStart);
      const length = Math.max(0, end - (entity.start_time ?? traceStart));
      const flags = marks(entity);
      const bar = h("div", { class: ["bar", flags[0] || "ok", node.isSegment ? "segment" : null] });
      bar.style.left = `${(100 * start) / span}%`;
      bar.style.width = `${Math.max(0.3, (100 * length) / span)}%`;
      const name = h("td", { class: "name" }, entity.name ?? "", entity.inferred ? h("span", { class: "badge" }, "inferred") : null);
      name.style.paddingLeft = `${0.4 + depth * 1.1}rem`;
      const row = h("tr", {
        class: ["timeline-row", node.isSegment ? "segment" : "subsegment", flags[0] || null],
        "data-id": entity.id ?? "", "data-name": entity.name ?? "", "data-depth": String(depth), tabindex: "0",
      },
      name,
      h("td", {}, node.service),
      h("td", {}, entity.namespace ?? (node.isSegment ? entity.origin ?? "" : "")),
      h("td", {}, entity.http?.response?.status ?? "", flags.map((flag) => h("span", { class: `badge ${flag}` }, flag))),
      h("td", { class: "num" }, `+${duration(start)}`),
      h("td", { class: "num" }, entity.in_progress ? "in progress" : duration(length)),
      h("td", { class: "bar-cell" }, h("div", { class: "bar-track" }, bar)));
      if (entity.id && !rowsById.has(entity.id)) rowsById.set(entity.id, { node, row });
      const open = () => {
        select(node, row);
        logs.showSegment(entity.id ?? null, entity.name ?? "");
      };
      // A click on a log mark shows its line, not the row's details.
      row.addEventListener("click", (event) => { if (!event.target.closest?.(".log-mark")) open(); });
      row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
      body.append(row);
    }
    return h("table", { class: "timeline", id: "timeline" },
      h("thead", {}, h("tr", {}, ["Name", "Service", "Kind", "Status", "Start", "Duration", "Timeline"].map((label) => h("th", { scope: "col" }, label)))),
      body);
  }

  function showDetails(node) {
    const entity = node.entity;
    const raw = { ...entity };
    delete raw.subsegments;
    const sections = [
      h("h2", {}, entity.name ?? ""),
      definitionList([
        ["Id", entity.id], ["Service", node.service], ["Kind", node.isSegment ? "segment" : "subsegment"],
        ["Origin", entity.origin], ["Namespace", entity.namespace], ["Parent", entity.parent_id],
        ["Start", timestamp(entity.start_time)], ["End", entity.end_time ? timestamp(entity.end_time) : "in progress"],
        ["Duration", entity.end_time ? duration(entity.end_time - entity.start_time) : null],
        ["Marks", marks(entity).join(", ")], ["User", entity.user],
      ]),
    ];
    for (const [title, value] of [["HTTP", entity.http], ["AWS", entity.aws], ["SQL", entity.sql], ["Annotations", entity.annotations], ["Metadata", entity.metadata]]) {
      if (value && Object.keys(value).length) sections.push(h("h3", {}, title), h("pre", { class: "json", "data-section": title.toLowerCase() }, JSON.stringify(value, null, 2)));
    }
    const cause = entity.cause;
    if (cause) {
      sections.push(h("h3", {}, "Exceptions"));
      if (typeof cause === "string") sections.push(h("p", {}, `Exception ${cause} (recorded on another entity)`));
      else {
        if (cause.working_directory) sections.push(h("p", { class: "muted" }, `working directory ${cause.working_directory}`));
        for (const exception of cause.exceptions || []) sections.push(exceptionElement(exception));
      }
    }
    sections.push(h("details", {}, h("summary", {}, "Raw document"), h("pre", { class: "json", id: "raw-document" }, JSON.stringify(raw, null, 2))));
    replace(details, ...sections);
  }

  async function loadMap() {
    try {
      const services = await api.traceGraph([traceId]);
      drawGraph(mapHost, services, { windowSeconds: 60 });
    } catch (error) {
      replace(mapHost, h("p", { class: "error" }, `Cannot load the trace map: ${error.message}`));
    }
  }
}

/**
 * Which row shows each log line's mark (a Map line → entity id): the row of its span id; a line
 * without one, or with one the trace does not hold (a span still arriving, a logger outside any
 * span), goes to the deepest row whose time holds the line's, else to the root.
 */
export function placeLogLines(rows, lines) {
  const ids = new Set(rows.map((row) => row.node.entity.id).filter(Boolean));
  const placement = new Map();
  for (const line of lines) {
    if (line.SegmentId && ids.has(line.SegmentId)) {
      placement.set(line, line.SegmentId);
      continue;
    }
    let best = null;
    for (const { node, depth } of rows) {
      const { id, start_time: start, end_time: end } = node.entity;
      const holds = id && start <= line.Time && (end === undefined || line.Time <= end);
      if (holds && (!best || depth > best.depth)) best = { id, depth };
    }
    const root = rows.find((row) => row.node.entity.id);
    if (best || root) placement.set(line, best ? best.id : root.node.entity.id);
  }
  return placement;
}

/**
 * The log panel under the timeline: the trace's log lines in time order (time, service,
 * severity, message), or only one segment's after a click on its row, with a way back to all.
 */
function logPanel(traceId, onLineClick) {
  const status = h("p", { class: "muted", id: "trace-logs-status" }, "Loading log lines…");
  const showAll = h("button", { type: "button", class: "button", id: "trace-logs-all", hidden: true }, "Show all lines");
  const body = h("tbody", {});
  const table = h("table", { class: "list logs", id: "trace-logs-table" },
    h("thead", {}, h("tr", {}, ["Time", "Service", "Severity", "Message"].map((label) => h("th", { scope: "col" }, label)))),
    body);
  const section = h("section", { id: "trace-logs", "aria-label": "Log lines" }, h("h3", {}, "Logs"), status, showAll, table);
  let lines = [];
  let segment = null;
  let segmentName = "";
  showAll.addEventListener("click", () => showSegment(null, ""));

  async function load() {
    try {
      lines = await api.traceLogs(traceId);
    } catch (error) {
      replace(status, h("span", { class: "error" }, `Cannot load the log lines: ${error.message}`));
      return [];
    }
    draw();
    return lines;
  }

  /** A mark's line: shown (all lines if its segment's are filtered out) and marked. */
  function highlight(line) {
    if (segment && line.SegmentId !== segment) showSegment(null, "");
    const index = lines.indexOf(line);
    const row = body.querySelector(`tr[data-index="${index}"]`);
    body.querySelectorAll("tr.highlighted").forEach((other) => other.classList.remove("highlighted"));
    // Not scrolled to: the page would move the mark away from under the pointer.
    row?.classList.add("highlighted");
  }

  function showSegment(segmentId, name) {
    segment = segmentId;
    segmentName = name;
    draw();
  }

  function draw() {
    const shown = lines.map((line, index) => ({ line, index })).filter(({ line }) => !segment || line.SegmentId === segment);
    replace(body, shown.map(({ line, index }) => {
      const row = logRow(line);
      row.setAttribute("data-index", String(index));
      row.classList.add("clickable");
      row.addEventListener("click", () => onLineClick(line));
      return row;
    }));
    showAll.hidden = !segment;
    if (segment) replace(status, `${shown.length} of ${lines.length} log lines, of segment ${segmentName} (${segment})`);
    else replace(status, lines.length ? `${lines.length} log lines` : "No log lines for this trace.");
  }

  return { section, load, showSegment, highlight };
}

function exceptionElement(exception) {
  const stack = (exception.stack || []).map((frame) =>
    h("li", {}, h("span", { class: "mono" }, `${frame.label ?? "?"} (${frame.path ?? "?"}${frame.line !== undefined ? `:${frame.line}` : ""})`)));
  return h("div", { class: "exception", "data-exception-id": exception.id ?? "" },
    h("p", {}, h("strong", {}, exception.type ?? "Exception"), exception.remote ? " (remote)" : "", ": ", exception.message ?? ""),
    stack.length ? h("ol", { class: "stack" }, stack) : null,
    exception.truncated ? h("p", { class: "muted" }, `${exception.truncated} more frames`) : null);
}
