// The shell: the top bar, and the router that maps the path to a page module. The view's
// state lives in the URL (path + query string): links reproduce a view and the back button
// restores it. Pages change the URL through `ctx.setParams` / `ctx.navigate`; a page with an
// `update(params)` keeps its DOM (zoom, scroll, charts) when only its parameters change.

import { h, link, replace } from "./dom.js";
import * as live from "./live.js";
import * as scenario from "./scenario.js";
import * as mapPage from "./map.js";
import * as tracesPage from "./traces.js";
import * as timelinePage from "./timeline.js";
import * as analyticsPage from "./analytics.js";
import * as logsPage from "./logs.js";
import * as groupsPage from "./groups.js";
import * as samplingPage from "./sampling.js";
import * as alarmsPage from "./alarms.js";
import * as insightsPage from "./insights.js";

const PAGES = [
  { name: "map", pattern: /^\/$/, title: "Service map", href: "/", module: mapPage },
  { name: "traces", pattern: /^\/traces\/?$/, title: "Traces", href: "/traces", module: tracesPage },
  { name: "trace", pattern: /^\/traces\/([^/]+)$/, title: "Trace", module: timelinePage },
  { name: "logs", pattern: /^\/logs\/?$/, title: "Logs", href: "/logs", module: logsPage },
  { name: "analytics", pattern: /^\/analytics\/?$/, title: "Analytics", href: "/analytics", module: analyticsPage },
  { name: "groups", pattern: /^\/groups\/?$/, title: "Groups", href: "/groups", module: groupsPage },
  { name: "alarms", pattern: /^\/alarms\/?$/, title: "Alarms", href: "/alarms", module: alarmsPage },
  { name: "sampling", pattern: /^\/sampling\/?$/, title: "Sampling rules", href: "/sampling", module: samplingPage },
  { name: "insights", pattern: /^\/insights\/?$/, title: "Insights", href: "/insights", module: insightsPage },
];

let current = null; // {page, key, view}

function pageOf(pathname) {
  for (const page of PAGES) {
    const match = pathname.match(page.pattern);
    if (match) return { page, args: match.slice(1).map(decodeURIComponent) };
  }
  return null;
}

/** Goes to `url` (path and query), adding a history entry unless `replace`. */
export function navigate(url, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

/** Changes some query parameters of the current view; null or "" removes one. */
export function setParams(changes, options = {}) {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") params.delete(key);
    else params.set(key, String(value));
  }
  const query = params.toString();
  navigate(`${location.pathname}${query ? `?${query}` : ""}`, options);
}

function route() {
  const params = new URLSearchParams(location.search);
  const found = pageOf(location.pathname);
  showNav(found?.page);
  const root = document.getElementById("page");
  const key = found ? `${found.page.name}:${found.args.join("/")}` : "none";
  if (current && current.key === key && current.view?.update) {
    current.view.update(params);
    return;
  }
  current?.view?.dispose?.();
  live.watch(null);
  replace(root);
  if (!found) {
    root.append(h("h1", {}, "Not found"), h("p", {}, "No dashboard page at this address. "), link("/", {}, "Open the service map"));
    current = null;
    return;
  }
  document.title = `${found.page.title} · Fluoro`;
  const ctx = { params: () => new URLSearchParams(location.search), setParams, navigate };
  current = { key, view: found.page.module.render(root, ctx, params, ...found.args) };
}

function showNav(active) {
  const nav = document.getElementById("nav");
  replace(nav, PAGES.filter((page) => page.href).map((page) =>
    link(page.href, { class: page === active || (active?.name === "trace" && page.name === "traces") ? "active" : null }, page.title)));
}

// In-app links navigate without reloading; modified clicks (new tab) keep the browser's way.
document.addEventListener("click", (event) => {
  const anchor = event.target.closest?.("a[data-route]");
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", route);
live.mount(document.getElementById("live"));
scenario.mount(document.getElementById("scenario"));
route();
