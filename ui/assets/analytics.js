// The Analytics page (`/analytics`): set A against set B (two filter expressions, or A and
// "the rest"), their response-time distributions overlaid, and the attribute values ranked
// by how differently the two sets hold them (`/api/compare`), the effect size drawn as bars.
// Dragging a range on the distribution makes that range set A, as X-Ray Analytics does.

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { histogramChart } from "./charts.js";
import { duration } from "./format.js";
import { picker, windowOf } from "./time_range.js";
import { filterErrorElement } from "./traces.js";

const SET_A = { stroke: "#2f6fb7", fill: "rgba(47, 111, 183, 0.45)" };
const SET_B = { stroke: "#e07b00", fill: "rgba(224, 123, 0, 0.35)" };

export function render(root, ctx, initialParams) {
  let params = initialParams;
  const inputA = h("input", { id: "set-a", type: "search", class: "filter-input", "aria-label": "Set A filter", placeholder: "set A, e.g. responsetime > 3 (or drag on the chart)" });
  const inputB = h("input", { id: "set-b", type: "search", class: "filter-input", "aria-label": "Set B filter", placeholder: "set B (empty: the rest of the traces)" });
  const form = h("form", { class: "compare-form", id: "compare-form" },
    h("label", {}, h("span", { class: "set-a" }, "A"), inputA),
    h("label", {}, h("span", { class: "set-b" }, "B"), inputB),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.setParams({ a: inputA.value.trim(), b: inputB.value.trim() });
  });
  const rangeHost = h("span", { class: "toolbar" });
  const errorHost = h("div", {});
  const chartHost = h("div", { class: "chart wide", id: "analytics-histogram" });
  const summary = h("p", { class: "status", id: "analytics-status" });
  const ranking = h("div", { class: "table-scroll", id: "ranking" });
  root.append(h("h1", {}, "Analytics"), form, rangeHost, errorHost, h("h3", {}, "Response time distribution"), chartHost, summary,
    h("h3", {}, "What differs between A and B"), ranking);

  const selectA = (min, max) => ctx.setParams({ a: `responsetime >= ${min.toFixed(3)} AND responsetime <= ${max.toFixed(3)}` });

  async function load() {
    inputA.value = params.get("a") || "";
    inputB.value = params.get("b") || "";
    replace(rangeHost, picker(params, (changes) => ctx.setParams(changes)));
    replace(errorHost);
    const window = windowOf(params);
    const selection = params.get("a");
    try {
      if (!selection) {
        const report = await api.histogram({ start: window.start, end: window.end });
        replace(chartHost);
        histogramChart(chartHost, [{ label: "all traces", entries: report.ResponseTime?.Distribution || [], ...SET_A }], { onSelect: selectA });
        summary.textContent = `${report.Traces} traces. Drag across the chart, or type a filter, to define set A.`;
        replace(ranking);
        return;
      }
      const answer = await api.compare({ start: window.start, end: window.end, selection, baseline: params.get("b") || undefined });
      replace(chartHost);
      histogramChart(chartHost, [
        { label: `A (${answer.Selection.Traces})`, entries: answer.Selection.Distribution || [], ...SET_A },
        { label: `B (${answer.Baseline.Traces})`, entries: answer.Baseline.Distribution || [], ...SET_B },
      ], { onSelect: selectA });
      const p = (set) => (set.Percentiles ? `p50 ${duration(set.Percentiles.P50)}, p99 ${duration(set.Percentiles.P99)}` : "no latency");
      summary.textContent = `A: ${answer.Selection.Traces} traces (${p(answer.Selection)}); B${params.get("b") ? "" : " (the rest)"}: ${answer.Baseline.Traces} traces (${p(answer.Baseline)}).`;
      replace(ranking, rankingTable(answer.Ranking || []));
    } catch (error) {
      if (error.status === 400) {
        const isBaseline = error.message.startsWith("Baseline: ");
        replace(errorHost, filterErrorElement(isBaseline ? params.get("b") : selection, {
          message: error.message, column: error.column,
        }));
      } else {
        replace(errorHost, h("p", { class: "error" }, `Cannot compare: ${error.message}`));
      }
    }
  }

  load();
  return {
    update(next) {
      params = next;
      load();
    },
  };
}

function rankingTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No attribute differs.");
  const largest = Math.max(...rows.map((row) => Math.abs(row.Difference ?? 0)), 1e-9);
  return h("table", { class: "ranking" },
    h("thead", {}, h("tr", {}, ["Attribute", "Value", "A", "B", "Difference", "Score"].map((label) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, rows.map((row) => {
      const difference = row.Difference ?? 0;
      const bar = h("div", { class: ["effect", difference >= 0 ? "more" : "less"] });
      bar.style.width = `${(50 * Math.abs(difference)) / largest}%`;
      return h("tr", { title: row.Description ?? "", "data-attribute": row.Attribute },
        h("td", {}, row.Attribute),
        h("td", { class: "value" }, row.Value),
        h("td", { class: "num" }, `${row.SelectionTraces} (${Math.round(100 * (row.SelectionShare ?? 0))}%)`),
        h("td", { class: "num" }, `${row.BaselineTraces} (${Math.round(100 * (row.BaselineShare ?? 0))}%)`),
        h("td", { class: "effect-cell" }, h("div", { class: "effect-track" }, bar), h("span", { class: "num" }, `${difference >= 0 ? "+" : ""}${Math.round(100 * difference)} pts`)),
        h("td", { class: "num" }, (row.Score ?? 0).toFixed(2)));
    })));
}
