// The service map page (`/`) and the graph drawing shared with the trace page. The graph is
// SVG built through the DOM: each node a <g class="node"> with data-name, data-type and an
// aria-label, each edge a <g class="edge"> with data-source and data-target, so it reads
// sharp at any zoom, to screen readers and to tests. Layout by dagre (left to right: clients
// first, inferred AWS/remote/SQL nodes last); pan and zoom move the viewBox.

import dagre from "./vendor/dagre.esm.js";
import * as api from "./api.js";
import { h, svg, replace } from "./dom.js";
import { counts, duration, health, rate, serviceStatistics } from "./format.js";
import * as live from "./live.js";
import { renderPanel, refreshPanel } from "./panel.js";
import { picker, windowOf } from "./time_range.js";
import { filterErrorElement } from "./traces.js";

const RING_RADIUS = 30;
const RING_WIDTH = 9;
const NODE_WIDTH = 170;
const NODE_HEIGHT = 118;
const RING_CENTER_OFFSET = 14;
/** Below this the 13 px node names shrink under ~7 px. */
const MIN_READABLE_SCALE = 0.55;
const SHARES = ["ok", "error", "throttle", "fault"];

/** What a node's Type tag says: client, service, the AWS resource type, remote or SQL. */
export function typeTag(type) {
  if (!type) return "service";
  if (type === "client") return "client";
  if (type === "remote") return "remote";
  if (/sql/i.test(type)) return "SQL";
  if (/^AWS::(EC2|ECS|EKS|ElasticBeanstalk|Lambda::Function|ApiGateway)/.test(type)) return `service · ${type}`;
  return type;
}

/** The graph's nodes and edges keyed for drawing and selection. */
export function graphOf(services) {
  const byReference = new Map(services.map((service) => [service.ReferenceId, service]));
  const edges = [];
  for (const source of services) {
    for (const edge of source.Edges || []) {
      const target = byReference.get(edge.ReferenceId);
      if (target) edges.push({ source, target, edge });
    }
  }
  return { services, edges };
}

/**
 * Draws `services` into `host` (an element): an <svg> with pan and zoom. Options:
 * `windowSeconds` (for rates), `selected` ({node: name} or {from, to}), `onSelect(selection)`,
 * `viewState` (an object kept by the caller across redraws: the viewBox survives a refresh).
 */
export function drawGraph(host, services, { windowSeconds, selected, onSelect, viewState = {}, alarms = [] } = {}) {
  const { edges } = graphOf(services);
  const layout = new dagre.graphlib.Graph({ multigraph: false });
  layout.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 120, edgesep: 20, marginx: 30, marginy: 30 });
  layout.setDefaultEdgeLabel(() => ({}));
  for (const service of services) layout.setNode(String(service.ReferenceId), { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const { source, target } of edges) {
    layout.setEdge(String(source.ReferenceId), String(target.ReferenceId), { width: 110, height: 18, labelpos: "c" });
  }
  dagre.layout(layout);
  const moved = alignDownstreamRight(services, layout);
  const graphInfo = layout.graph();
  const width = Math.max(graphInfo.width || 0, 200);
  const height = Math.max(graphInfo.height || 0, 160);

  const canvas = svg("g", { class: "canvas" });
  const root = svg("svg", {
    class: "graph", role: "group", "aria-label": "Service map", xmlns: "http://www.w3.org/2000/svg",
    preserveAspectRatio: "xMidYMid meet",
  }, defs(), canvas);

  for (const item of edges) canvas.append(edgeElement(item, layout, windowSeconds, selected, onSelect, moved));
  for (const service of services) {
    const node = nodeElement(service, layout.node(String(service.ReferenceId)), windowSeconds, selected, onSelect);
    markAlarms(node, alarmsOfNode(alarms, service));
    canvas.append(node);
  }

  const fit = { x: 0, y: 0, w: width, h: height };
  if (!viewState.box || !viewState.touched) viewState.box = readableBox(host, fit);
  viewState.fit = fit;
  setViewBox(root, viewState.box);
  enablePanZoom(root, viewState);
  replace(host, root);
  backLabels(root);
  return root;
}

/** A plate behind each edge label, sized once the text is laid out, so the line does not cross it. */
function backLabels(root) {
  for (const label of root.querySelectorAll(".edge-label")) {
    const box = label.getBBox();
    if (!box.width) continue;
    label.before(svg("rect", { class: "edge-label-plate", x: box.x - 3, y: box.y - 1, width: box.width + 6, height: box.height + 2, rx: 3 }));
  }
}


/** Inferred downstream nodes: AWS resources, remote and SQL calls that sent no segment of their own. */
function isDownstream(service) {
  const type = service.Type || "";
  return !(service.Edges || []).length && (type === "remote" || /sql/i.test(type) || (type.startsWith("AWS::") && service.State === "unknown"));
}

/**
 * Moves the inferred downstream nodes into the rightmost column, as the X-Ray console shows
 * them, whatever depth dagre ranked them at; the column is re-spaced so none overlap. Returns
 * the ids of the nodes moved, whose edges are then drawn straight.
 */
function alignDownstreamRight(services, layout) {
  const moved = new Set();
  const nodes = services.map((service) => ({ service, box: layout.node(String(service.ReferenceId)) }));
  const right = Math.max(...nodes.map(({ box }) => box.x));
  for (const { service, box } of nodes) {
    if (isDownstream(service) && box.x < right) {
      box.x = right;
      moved.add(service.ReferenceId);
    }
  }
  if (!moved.size) return moved;
  const column = nodes.filter(({ box }) => box.x === right).sort((a, b) => a.box.y - b.box.y);
  let nextFree = -Infinity;
  for (const { service, box } of column) {
    if (box.y < nextFree) {
      box.y = nextFree;
      moved.add(service.ReferenceId);
    }
    nextFree = box.y + NODE_HEIGHT + 20;
  }
  const graph = layout.graph();
  graph.height = Math.max(graph.height || 0, ...column.map(({ box }) => box.y + NODE_HEIGHT / 2 + 30));
  return moved;
}

/**
 * The whole graph, unless fitting it would shrink labels below reading size (a map of dozens of
 * nodes): then its left part at the smallest readable scale, the rest a pan away. Double-click
 * still fits everything.
 */
function readableBox(host, fit) {
  const rect = host.getBoundingClientRect();
  if (!rect.width || !rect.height) return { ...fit };
  const scale = Math.min(rect.width / fit.w, rect.height / fit.h);
  if (scale >= MIN_READABLE_SCALE) return { ...fit };
  return { x: fit.x, y: fit.y, w: rect.width / MIN_READABLE_SCALE, h: rect.height / MIN_READABLE_SCALE };
}

function defs() {
  return svg("defs", {}, ["ok", "error", "fault"].map((state) =>
    svg("marker", { id: `arrow-${state}`, class: `arrow ${state}`, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }))));
}

function nodeElement(service, position, windowSeconds, selected, onSelect) {
  const c = counts(serviceStatistics(service));
  const name = service.Name ?? "";
  const tag = typeTag(service.Type);
  const isSelected = selected?.node === name && (!selected.type || selected.type === (service.Type || ""));
  const group = svg("g", {
    class: ["node", health(c), service.Type === "client" ? "client" : null, isSelected ? "selected" : null],
    transform: `translate(${position.x}, ${position.y - RING_CENTER_OFFSET})`,
    "data-name": name,
    "data-type": service.Type || "",
    "data-health": health(c),
    role: "button",
    tabindex: "0",
    "aria-label": `${name} (${tag}): ${c.total} requests, ${c.fault} faults, ${c.error} errors, ${c.throttle} throttles`,
  });
  group.append(svg("title", {}, `${name}\n${service.Type || "service"}`));
  group.append(svg("circle", { class: "node-face", r: RING_RADIUS + RING_WIDTH / 2 + 2 }));
  group.append(...ringSegments(c));
  group.append(
    svg("text", { class: "node-latency", y: "-2" }, c.averageSeconds === null ? "–" : duration(c.averageSeconds)),
    svg("text", { class: "node-rate", y: "12" }, rate(c.total, windowSeconds)),
    svg("text", { class: "node-name", y: RING_RADIUS + 22 }, shorten(name, 26)),
    svg("text", { class: "node-type", y: RING_RADIUS + 37 }, shorten(tag, 30)),
  );
  const select = () => onSelect?.({ node: name, type: service.Type || "" });
  group.addEventListener("click", (event) => { event.stopPropagation(); select(); });
  group.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(); } });
  return group;
}

/**
 * The alarms in ALARM that watch this node: their Dimensions name it (`ServiceName`, and
 * `ServiceType` when given), as the group metrics of a service's node do.
 */
export function alarmsOfNode(alarms, service) {
  return alarms.filter((alarm) => {
    const dimensions = alarm.Dimensions || {};
    return alarm.StateValue === "ALARM" && dimensions.ServiceName === (service.Name ?? "")
      && (dimensions.ServiceType === undefined || dimensions.ServiceType === (service.Type || ""));
  });
}

/** A red outline and a bell badge with the alarms' names in its tooltip. */
function markAlarms(node, alarms) {
  if (!alarms.length) return;
  const names = alarms.map((alarm) => alarm.AlarmName);
  node.classList.add("alarm");
  node.setAttribute("data-alarms", names.join("\n"));
  node.setAttribute("aria-label", `${node.getAttribute("aria-label")}; in ALARM: ${names.join(", ")}`);
  const x = RING_RADIUS + 4;
  const y = -RING_RADIUS + 2;
  node.append(svg("g", { class: "node-alarm", transform: `translate(${x}, ${y})` },
    svg("title", {}, `In ALARM: ${names.join(", ")}`),
    svg("circle", { r: 9 }),
    svg("text", { y: 4 }, "!")));
}

/** The ring: one arc per share of ok, error, throttle and fault, as dashed circles. */
function ringSegments(c) {
  const circumference = 2 * Math.PI * RING_RADIUS;
  const total = c.ok + c.error + c.throttle + c.fault;
  if (!total) return [svg("circle", { class: "ring empty", r: RING_RADIUS })];
  let offset = 0;
  const arcs = [];
  for (const share of SHARES) {
    const length = (c[share] / total) * circumference;
    if (length <= 0) continue;
    arcs.push(svg("circle", {
      class: `ring ${share}`, r: RING_RADIUS, "data-share": share,
      "stroke-dasharray": `${length} ${circumference - length}`,
      "stroke-dashoffset": String(-offset),
      transform: "rotate(-90)",
    }));
    offset += length;
  }
  return arcs;
}

function edgeElement({ source, target, edge }, layout, windowSeconds, selected, onSelect, moved) {
  const c = counts(edge.SummaryStatistics);
  const state = health(c);
  const [from, to] = [layout.node(String(source.ReferenceId)), layout.node(String(target.ReferenceId))];
  let label = layout.edge(String(source.ReferenceId), String(target.ReferenceId));
  if (moved.has(target.ReferenceId)) {
    // dagre routed this edge to where the node was: a straight line to where it is now.
    label = { points: [from, to], x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 - RING_CENTER_OFFSET };
  }
  const points = clipToRings(label?.points || [], from, to);
  const path = points.map((point, i) => `${i ? "L" : "M"} ${point.x} ${point.y}`).join(" ");
  const isSelected = selected?.from === source.Name && selected?.to === target.Name;
  const group = svg("g", {
    class: ["edge", state, isSelected ? "selected" : null],
    "data-source": source.Name ?? "",
    "data-target": target.Name ?? "",
    "data-health": state,
    role: "button",
    tabindex: "0",
    "aria-label": `${source.Name} → ${target.Name}: ${c.total} requests, ${c.fault} faults, ${c.error} errors, ${c.throttle} throttles`,
  });
  group.append(
    svg("path", { class: "edge-hit", d: path }),
    svg("path", { class: "edge-line", d: path, "marker-end": `url(#arrow-${state})` }),
    svg("text", { class: "edge-label", x: label?.x ?? 0, y: (label?.y ?? 0) + 4 },
      `${c.averageSeconds === null ? "–" : duration(c.averageSeconds)} · ${rate(c.total, windowSeconds)}`),
  );
  const select = () => onSelect?.({ from: source.Name, to: target.Name });
  group.addEventListener("click", (event) => { event.stopPropagation(); select(); });
  group.addEventListener("keydown", (event) => { if (event.key === "Enter") select(); });
  return group;
}

/** dagre ends edges on the nodes' boxes; the map ends them at the rings, which sit above the labels. */
function clipToRings(points, sourceBox, targetBox) {
  if (points.length < 2 || !sourceBox || !targetBox) return points;
  const ringCenter = (box) => ({ x: box.x, y: box.y - RING_CENTER_OFFSET });
  const towards = (center, point, distance) => {
    const dx = point.x - center.x;
    const dy = point.y - center.y;
    const length = Math.hypot(dx, dy) || 1;
    return { x: center.x + (dx / length) * distance, y: center.y + (dy / length) * distance };
  };
  const inner = points.slice(1, -1);
  const source = ringCenter(sourceBox);
  const target = ringCenter(targetBox);
  const first = towards(source, inner[0] || target, RING_RADIUS + 8);
  const last = towards(target, inner[inner.length - 1] || source, RING_RADIUS + 10);
  return [first, ...inner, last];
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function setViewBox(root, box) {
  root.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
}

/** Wheel zooms around the pointer, dragging the background pans; double-click fits. */
function enablePanZoom(root, viewState) {
  const toGraph = (event) => {
    const rect = root.getBoundingClientRect();
    const box = viewState.box;
    const scale = Math.max(box.w / rect.width, box.h / rect.height);
    return { scale, rect };
  };
  root.addEventListener("wheel", (event) => {
    event.preventDefault();
    const factor = event.deltaY > 0 ? 1.15 : 1 / 1.15;
    const box = viewState.box;
    const rect = root.getBoundingClientRect();
    const px = box.x + ((event.clientX - rect.left) / rect.width) * box.w;
    const py = box.y + ((event.clientY - rect.top) / rect.height) * box.h;
    viewState.box = { x: px - (px - box.x) * factor, y: py - (py - box.y) * factor, w: box.w * factor, h: box.h * factor };
    viewState.touched = true;
    setViewBox(root, viewState.box);
  }, { passive: false });
  let drag = null;
  root.addEventListener("pointerdown", (event) => {
    if (event.target.closest(".node, .edge")) return;
    drag = { x: event.clientX, y: event.clientY, box: { ...viewState.box }, ...toGraph(event) };
    root.setPointerCapture(event.pointerId);
    root.classList.add("panning");
  });
  root.addEventListener("pointermove", (event) => {
    if (!drag) return;
    viewState.box = { ...drag.box, x: drag.box.x - (event.clientX - drag.x) * drag.scale, y: drag.box.y - (event.clientY - drag.y) * drag.scale };
    viewState.touched = true;
    setViewBox(root, viewState.box);
  });
  const end = () => { drag = null; root.classList.remove("panning"); };
  root.addEventListener("pointerup", end);
  root.addEventListener("pointercancel", end);
  root.addEventListener("dblclick", () => {
    viewState.box = { ...viewState.fit };
    viewState.touched = false;
    setViewBox(root, viewState.box);
  });
}

/** The selection a URL names: a node, an edge or nothing. */
function selectionOf(params) {
  if (params.get("node")) {
    const type = params.get("nodetype");
    return { node: params.get("node"), type: type === UNTYPED ? "" : type ?? undefined };
  }
  if (params.get("from") && params.get("to")) return { from: params.get("from"), to: params.get("to") };
  return null;
}

/** `nodetype` of a node without a type (a service without an origin): an empty parameter would vanish. */
const UNTYPED = "none";

const DATA_KEYS = ["range", "start", "end", "group", "filter"];

// --- the page -------------------------------------------------------------------------------

export function render(root, ctx, initialParams) {
  let params = initialParams;
  let services = [];
  let alarms = [];
  let lastDrawn = null;
  let window = windowOf(params);
  const viewState = {};
  const mapHost = h("div", { class: "map-host", id: "map" });
  const panel = h("aside", { class: "side-panel hidden", id: "panel", "aria-label": "Selection details" });
  const status = h("p", { class: "status", id: "map-status" });
  const toolbar = h("div", { class: "toolbar" });
  root.append(h("h1", {}, "Service map"), toolbar, status, h("div", { class: "map-layout" }, mapHost, panel));

  const groupSelect = h("select", { id: "map-group", "aria-label": "Group" }, h("option", { value: "" }, "All traces (Default)"));
  const filterInput = h("input", { id: "map-filter", type: "search", class: "filter-input", placeholder: 'filter, e.g. service("api") { fault }', value: params.get("filter") || "" });
  const filterForm = h("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); ctx.setParams({ filter: filterInput.value.trim(), node: null, nodetype: null, from: null, to: null }); } },
    filterInput, h("button", { type: "submit", class: "small" }, "Apply"));
  groupSelect.addEventListener("change", () => ctx.setParams({ group: groupSelect.value, node: null, nodetype: null, from: null, to: null }));

  function drawToolbar() {
    replace(toolbar, picker(params, (changes) => ctx.setParams(changes)), groupSelect, filterForm);
  }

  async function loadGroups() {
    try {
      const list = await api.groups();
      replace(groupSelect, h("option", { value: "" }, "All traces (Default)"),
        list.filter((group) => group.GroupName !== "Default").map((group) => h("option", { value: group.GroupName }, group.GroupName)));
    } catch {
      // The map works without the group list.
    }
    groupSelect.value = params.get("group") || "";
  }

  async function load() {
    window = windowOf(params);
    const filter = params.get("filter");
    if (filter) {
      const ids = await api.traceIds({ start: window.start, end: window.end, filter });
      services = ids.length ? await api.traceGraph(ids) : [];
      replace(status);
      status.textContent = `Map of the ${ids.length}${ids.length >= 1000 ? " (first)" : ""} traces matching the filter.`;
    } else {
      services = await api.serviceGraph({ start: window.start, end: window.end, group: params.get("group") || undefined });
      replace(status);
      status.textContent = services.length ? "" : "No traces in this time range.";
    }
    // The map works without alarms: an alarm state is an extra mark on a node.
    alarms = await api.alarms().catch(() => []);
    // A refresh that brought nothing new leaves the drawing alone (hover, focus, no flicker).
    const drawn = JSON.stringify([services, alarms.map((alarm) => [alarm.AlarmName, alarm.StateValue])]);
    if (drawn !== lastDrawn || !mapHost.firstChild) draw();
    lastDrawn = drawn;
    live.refreshed();
  }

  function draw() {
    const selected = selectionOf(params);
    drawGraph(mapHost, services, {
      windowSeconds: window.seconds,
      selected,
      viewState,
      alarms,
      onSelect: (selection) => ctx.setParams(selection.node
        ? { node: selection.node, nodetype: selection.type || UNTYPED, from: null, to: null }
        : { from: selection.from, to: selection.to, node: null, nodetype: null }),
    });
  }

  function showPanel(redraw) {
    const selected = selectionOf(params);
    panel.classList.toggle("hidden", !selected);
    if (!selected) return replace(panel);
    const panelContext = { services, window, group: params.get("group") || undefined, filter: params.get("filter") || undefined, ctx,
      close: () => ctx.setParams({ node: null, nodetype: null, from: null, to: null }) };
    if (redraw) renderPanel(panel, selected, panelContext);
    else refreshPanel(panel, selected, panelContext);
  }

  function fail(error) {
    if (error.status === 400 && params.get("filter") && error.column !== null) {
      replace(status, filterErrorElement(params.get("filter"), error));
      replace(mapHost);
      return;
    }
    status.textContent = `Cannot load the map: ${error.message}`;
    status.classList.add("error");
  }

  async function start() {
    drawToolbar();
    await loadGroups();
    try {
      await load();
      showPanel(true);
    } catch (error) {
      fail(error);
    }
  }

  start();
  live.watch(async () => {
    if (windowOf(params).absolute && services.length) return;
    await load();
    showPanel(false);
  });

  return {
    async update(next) {
      const dataChanged = DATA_KEYS.some((key) => next.get(key) !== params.get(key));
      const selectionChanged = ["node", "nodetype", "from", "to"].some((key) => next.get(key) !== params.get(key));
      params = next;
      filterInput.value = params.get("filter") || "";
      groupSelect.value = params.get("group") || "";
      status.classList.remove("error");
      try {
        if (dataChanged) {
          drawToolbar();
          await load();
        } else if (selectionChanged) {
          draw();
        }
        if (dataChanged || selectionChanged) showPanel(true);
      } catch (error) {
        fail(error);
      }
    },
  };
}
