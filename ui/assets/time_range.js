// The time range of a view, kept in the URL: `range=15m` (relative to now, the default) or
// `start` and `end` in epoch seconds (absolute).

import { h } from "./dom.js";

export const PRESETS = [
  ["5m", 300, "Last 5 minutes"],
  ["15m", 900, "Last 15 minutes"],
  ["1h", 3600, "Last hour"],
  ["3h", 10800, "Last 3 hours"],
  ["6h", 21600, "Last 6 hours"],
  ["24h", 86400, "Last 24 hours"],
];
export const DEFAULT_RANGE = "15m";

/** The window the URL asks for: `{start, end, seconds, label}` in epoch seconds. */
export function windowOf(params) {
  const start = Number(params.get("start"));
  const end = Number(params.get("end"));
  if (params.has("start") && params.has("end") && end > start) {
    return { start, end, seconds: end - start, absolute: true };
  }
  const preset = PRESETS.find(([key]) => key === params.get("range")) || PRESETS.find(([key]) => key === DEFAULT_RANGE);
  const now = Date.now() / 1000;
  return { start: now - preset[1], end: now, seconds: preset[1], absolute: false };
}

function localInput(epochSeconds) {
  const date = new Date(epochSeconds * 1000 - new Date().getTimezoneOffset() * 60000);
  return date.toISOString().slice(0, 19);
}

/** A preset select plus absolute from/to inputs; `onChange(changes)` gets URL parameter changes. */
export function picker(params, onChange) {
  const window = windowOf(params);
  const select = h("select", { "aria-label": "Time range", id: "range" },
    PRESETS.map(([key, , label]) => h("option", { value: key, selected: !window.absolute && (params.get("range") || DEFAULT_RANGE) === key }, label)),
    h("option", { value: "absolute", selected: window.absolute }, "Absolute…"));
  const from = h("input", { type: "datetime-local", step: "1", "aria-label": "From", value: localInput(window.start) });
  const to = h("input", { type: "datetime-local", step: "1", "aria-label": "To", value: localInput(window.end) });
  const apply = h("button", { type: "button", class: "small" }, "Apply");
  const absolute = h("span", { class: window.absolute ? "absolute" : "absolute hidden" }, from, "–", to, apply);
  select.addEventListener("change", () => {
    if (select.value === "absolute") {
      absolute.classList.remove("hidden");
      return;
    }
    absolute.classList.add("hidden");
    onChange({ range: select.value, start: null, end: null });
  });
  apply.addEventListener("click", () => {
    const start = Math.floor(new Date(from.value).getTime() / 1000);
    const end = Math.ceil(new Date(to.value).getTime() / 1000);
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) onChange({ range: null, start, end });
  });
  return h("span", { class: "time-range" }, select, absolute);
}
