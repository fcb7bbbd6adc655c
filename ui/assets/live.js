// Live refresh: the current page registers one refresh function; it runs every few seconds
// unless paused (the choice survives page changes in this tab) or the tab is hidden. The
// indicator in the top bar shows the time of the last refresh.

import { h, replace } from "./dom.js";
import { clock } from "./format.js";

export const INTERVAL_MS = 5000;
const PAUSED_KEY = "fluoro.live.paused";

let refresh = null;
let running = false;
let timer = null;
let indicator = null;
let toggle = null;

function paused() {
  return sessionStorage.getItem(PAUSED_KEY) === "1";
}

/** Builds the top bar's indicator and pause button into `container`. */
export function mount(container) {
  indicator = h("span", { id: "live-status", class: "live-status", "aria-live": "polite" }, "not refreshed yet");
  toggle = h("button", { id: "live-toggle", type: "button", class: "small", onclick: onToggle });
  replace(container, indicator, toggle);
  showToggle();
  timer = setInterval(tick, INTERVAL_MS);
}

function onToggle() {
  sessionStorage.setItem(PAUSED_KEY, paused() ? "0" : "1");
  showToggle();
}

function showToggle() {
  toggle.textContent = paused() ? "Resume live" : "Pause live";
  toggle.setAttribute("aria-pressed", paused() ? "true" : "false");
  indicator.classList.toggle("paused", paused());
}

/** The current page's refresh; null stops refreshing (pages without live data). */
export function watch(refreshFunction) {
  refresh = refreshFunction;
  indicator?.classList.toggle("idle", !refreshFunction);
  if (!refreshFunction && indicator) indicator.textContent = "not live on this page";
}

/** Records a successful load (the initial one, or a refresh). */
export function refreshed() {
  if (indicator) indicator.textContent = `updated ${clock(new Date())}${paused() ? " (paused)" : ""}`;
}

async function tick() {
  if (!refresh || running || paused() || document.hidden) return;
  running = true;
  try {
    await refresh();
    refreshed();
  } catch (error) {
    if (indicator) indicator.textContent = `refresh failed: ${error.message}`;
  } finally {
    running = false;
  }
}

export function stopForTests() {
  clearInterval(timer);
}
