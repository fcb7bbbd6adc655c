// The Insights page (`/insights`): fault-rate anomalies the server detected, each with its
// root-cause service and the client requests it impacted; `?id=` opens one insight's detail —
// its timeline of events, the root cause and the impact per client. Every string from the
// server reaches the page as a text node (dom.js).

import * as api from "./api.js";
import { definitionList, h, link, replace } from "./dom.js";
import { duration, percent, timestamp } from "./format.js";

const WINDOWS = { "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600 };

export function render(root, ctx, params) {
  const stateSelect = h("select", { id: "insight-state", "aria-label": "State" },
    h("option", { value: "" }, "Every state"), h("option", { value: "ACTIVE" }, "Active"), h("option", { value: "CLOSED" }, "Closed"));
  const windowSelect = h("select", { id: "insight-window", "aria-label": "Window" },
    Object.keys(WINDOWS).map((key) => h("option", { value: key }, `Last ${key}`)));
  stateSelect.addEventListener("change", () => ctx.setParams({ state: stateSelect.value }));
  windowSelect.addEventListener("change", () => ctx.setParams({ since: windowSelect.value }));
  const list = h("div", { class: "table-scroll", id: "insights-list" });
  const detail = h("section", { id: "insight-detail" });
  root.append(
    h("h1", {}, "Insights"),
    h("p", { class: "muted" }, "A service's fault rate and p99 response time compared, minute by minute, with its own last hour; an insight names the service that causes the rise."),
    h("div", { class: "toolbar" }, stateSelect, windowSelect),
    list, detail);

  async function update(next) {
    stateSelect.value = next.get("state") || "";
    windowSelect.value = WINDOWS[next.get("since")] ? next.get("since") : "24h";
    await Promise.all([showList(next), showDetail(next.get("id"))]);
  }

  async function showList(next) {
    const end = Date.now() / 1000 + 60;
    const start = end - WINDOWS[windowSelect.value] - 60;
    let insights;
    try {
      insights = await api.insightSummaries({ start, end, states: stateSelect.value ? [stateSelect.value] : [] });
    } catch (error) {
      replace(list, h("p", { class: "error" }, `Cannot list insights: ${error.message}`));
      return;
    }
    if (!insights.length) {
      replace(list, h("p", { class: "empty" }, "No insights in this window."));
      return;
    }
    const selected = next.get("id");
    const rows = insights.map((insight) => {
      const clients = insight.ClientRequestImpactStatistics || {};
      const query = new URLSearchParams(next);
      query.set("id", insight.InsightId);
      return h("tr", { "data-insight": insight.InsightId, class: insight.InsightId === selected ? "selected" : null },
        h("td", {}, h("span", { class: ["badge", insight.State === "ACTIVE" ? "fault" : "ok"] }, insight.State)),
        h("td", { class: "root-cause" }, link(`/insights?${query}`, {}, insight.RootCauseServiceId?.Name ?? "–")),
        h("td", {}, insight.GroupName),
        h("td", {}, timestamp(insight.StartTime)),
        h("td", {}, insight.EndTime ? timestamp(insight.EndTime) : "ongoing"),
        h("td", { class: "num" }, duration((insight.EndTime ?? Date.now() / 1000) - insight.StartTime)),
        h("td", { class: "num clients" }, `${clients.FaultCount ?? 0} of ${clients.TotalCount ?? 0} faulted`),
        h("td", { class: "category" }, (insight.Categories || []).join(", ")));
    });
    replace(list, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["State", "Root cause", "Group", "Start", "End", "Duration", "Client requests", "Category"].map((title) => h("th", {}, title)))),
      h("tbody", {}, rows)));
  }

  async function showDetail(id) {
    if (!id) {
      replace(detail);
      return;
    }
    let insight, events;
    try {
      [insight, events] = await Promise.all([api.insight(id), api.insightEvents(id)]);
    } catch (error) {
      replace(detail, h("p", { class: "error" }, `Cannot show the insight: ${error.message}`));
      return;
    }
    const root = insight.RootCauseServiceId || {};
    const cause = insight.RootCauseServiceRequestImpactStatistics || {};
    const clients = insight.ClientRequestImpactStatistics || {};
    replace(detail, h("div", { class: "card" },
      h("h2", {}, `Insight: ${root.Name ?? "?"}`),
      h("p", { class: "summary" }, insight.Summary),
      definitionList([
        ["Root cause", [root.Name, root.Type ? ` (${root.Type})` : ""].join("")],
        ["Category", (insight.Categories || []).join(", ")],
        ["State", insight.State],
        ["Group", insight.GroupName],
        ["Started", timestamp(insight.StartTime)],
        ["Ended", insight.EndTime ? timestamp(insight.EndTime) : "ongoing"],
        ["Root-cause requests", `${cause.FaultCount ?? 0} faulted of ${cause.TotalCount ?? 0} (${percent(cause.FaultCount, cause.TotalCount)})`],
        ["Client requests", `${clients.FaultCount ?? 0} faulted of ${clients.TotalCount ?? 0} (${percent(clients.FaultCount, clients.TotalCount)})`],
      ]),
      h("h3", {}, "Impacted clients"),
      h("table", { class: "list", id: "insight-clients" },
        h("thead", {}, h("tr", {}, h("th", {}, "Client"), h("th", {}, "Faulted"), h("th", {}, "Ok"), h("th", {}, "Total"))),
        h("tbody", {}, (insight.ClientImpacts || []).map((client) => {
          const s = client.RequestImpactStatistics || {};
          return h("tr", {}, h("td", {}, client.ServiceId?.Name), h("td", { class: "num" }, s.FaultCount), h("td", { class: "num" }, s.OkCount), h("td", { class: "num" }, s.TotalCount));
        }))),
      h("h3", {}, "Anomalous services"),
      h("ul", { id: "insight-anomalous" }, (insight.TopAnomalousServices || []).map((service) => h("li", {}, service.ServiceId?.Name))),
      h("h3", {}, "Timeline"),
      h("ol", { class: "timeline-events", id: "insight-events" }, [...events].reverse().map((event) =>
        h("li", {}, h("time", {}, timestamp(event.EventTime)), " ", h("span", {}, event.Summary))))));
  }

  update(params);
  return { update };
}
