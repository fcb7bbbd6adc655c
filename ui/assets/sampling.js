// The Sampling rules page (`/sampling`): the centralized sampling rules the SDKs poll, listed,
// created, edited and deleted; the server's validation message shown beside its field.

import * as api from "./api.js";
import { h, replace, showFieldError } from "./dom.js";

const FIELDS = [
  { name: "RuleName", label: "Name", value: "" },
  { name: "Priority", label: "Priority (1–9999)", value: "1000", number: true },
  { name: "FixedRate", label: "Fixed rate (0–1)", value: "0.05", number: true },
  { name: "ReservoirSize", label: "Reservoir (per second)", value: "1", number: true },
  { name: "ServiceName", label: "Service name", value: "*" },
  { name: "ServiceType", label: "Service type", value: "*" },
  { name: "Host", label: "Host", value: "*" },
  { name: "HTTPMethod", label: "HTTP method", value: "*" },
  { name: "URLPath", label: "URL path", value: "*" },
  { name: "ResourceARN", label: "Resource ARN", value: "*" },
];

export function render(root) {
  const list = h("div", { class: "table-scroll", id: "rules-list" });
  const inputs = {};
  const errors = {};
  const rows = [];
  for (const field of FIELDS) {
    inputs[field.name] = h("input", { id: `rule-${field.name}`, name: field.name, value: field.value, autocomplete: "off", inputmode: field.number ? "decimal" : null });
    errors[field.name] = h("p", { class: "field-error", "data-for": field.name });
    rows.push(h("label", { for: `rule-${field.name}` }, field.label), inputs[field.name], errors[field.name]);
  }
  const formError = h("p", { class: "field-error", "data-for": "form" });
  const submit = h("button", { type: "submit", id: "rule-save" }, "Create rule");
  const cancel = h("button", { type: "button", class: "secondary hidden", onclick: () => reset() }, "Cancel");
  const title = h("h2", {}, "New rule");
  let editing = null;
  const form = h("form", { id: "rule-form", class: "card form grid" }, title, ...rows, formError, h("div", { class: "actions" }, submit, cancel));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const rule = { RuleName: inputs.RuleName.value.trim() };
    for (const field of FIELDS) {
      // An update sends what may change: the Default rule takes only its rate and reservoir.
      if (inputs[field.name].disabled) continue;
      const text = inputs[field.name].value.trim();
      // A number field that is not a number goes to the server as text: its message says so.
      rule[field.name] = field.number && text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
    }
    try {
      if (editing) await api.updateSamplingRule(rule);
      else await api.createSamplingRule({ ...rule, Version: 1 });
      reset();
      await load();
    } catch (error) {
      showFieldError(errors, formError, error.message, { "rule named": "RuleName" });
    }
  });
  root.append(h("h1", {}, "Sampling rules"),
    h("p", { class: "muted" }, "The X-Ray SDKs poll these rules; the first matching rule by priority decides."), list, form);

  function reset() {
    editing = null;
    for (const field of FIELDS) {
      inputs[field.name].value = field.value;
      inputs[field.name].disabled = false;
    }
    submit.textContent = "Create rule";
    title.textContent = "New rule";
    cancel.classList.add("hidden");
    for (const element of [...Object.values(errors), formError]) replace(element);
  }

  function edit(rule) {
    reset();
    editing = rule.RuleName;
    for (const field of FIELDS) inputs[field.name].value = String(rule[field.name] ?? "");
    inputs.RuleName.disabled = true;
    if (rule.RuleName === "Default") {
      for (const field of FIELDS) if (!["FixedRate", "ReservoirSize"].includes(field.name)) inputs[field.name].disabled = true;
    }
    submit.textContent = "Update rule";
    title.textContent = `Edit ${rule.RuleName}`;
    cancel.classList.remove("hidden");
  }

  async function remove(rule, message) {
    if (!window.confirm(`Delete sampling rule ${rule.RuleName}?`)) return;
    try {
      await api.deleteSamplingRule(rule.RuleName);
      await load();
    } catch (error) {
      message.textContent = error.message;
    }
  }

  async function load() {
    let records;
    try {
      records = await api.samplingRules();
    } catch (error) {
      replace(list, h("p", { class: "error" }, `Cannot list sampling rules: ${error.message}`));
      return;
    }
    records.sort((a, b) => a.SamplingRule.Priority - b.SamplingRule.Priority);
    const header = h("tr", {}, FIELDS.map((field) => h("th", { scope: "col" }, field.label)), h("th", {}, ""));
    const body = records.map((record) => {
      const rule = record.SamplingRule;
      const message = h("span", { class: "field-error" });
      return h("tr", { "data-rule": rule.RuleName },
        FIELDS.map((field) => h("td", { class: field.number ? "num" : null }, String(rule[field.name] ?? ""))),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "small", "data-action": "edit", onclick: () => edit(rule) }, "Edit"),
          rule.RuleName === "Default" ? null : h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: () => remove(rule, message) }, "Delete"),
          message));
    });
    replace(list, h("table", { class: "list" }, h("thead", {}, header), h("tbody", {}, body)));
  }

  load();
  return {};
}
