// The Alarms page (`/alarms`): every metric alarm with its state badge, a sparkline of its
// metric over the last hours with the threshold line (POST /api/metrics/series: Namespace is
// the service, Dimensions the attributes), the last webhook delivery (GET /api/notifications),
// the history of transitions with CloudWatch's reasons, and a form that creates or edits an
// alarm (PutMetricAlarm) — prefilled from a group for its ApproximateTraceCount — or deletes one.
// Alarm names and reasons reach the page as text only (dom.js).

import * as api from "./api.js";
import { h, svg, replace, showFieldError } from "./dom.js";
import { timestamp } from "./format.js";
import * as live from "./live.js";

const SPARK_HOURS = 3;
const SPARK_WIDTH = 180;
const SPARK_HEIGHT = 36;
const HISTORY_ROWS = 50;
/** Each sparkline is one series query per refresh: past this many alarms the rest get none. */
const MAX_SPARKLINES = 50;
const STATISTICS = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"];
/** The alarm's statistic as /api/metrics/series names it. */
const SERIES_STATISTIC = { Sum: "sum", Average: "avg", Minimum: "min", Maximum: "max", SampleCount: "count" };
const OPERATORS = {
  GreaterThanThreshold: ">", GreaterThanOrEqualToThreshold: ">=", LessThanThreshold: "<", LessThanOrEqualToThreshold: "<=",
};
const MISSING = ["missing", "notBreaching", "breaching", "ignore"];

/** The CSS class of a state badge. */
export function stateClass(state) {
  return { ALARM: "fault", OK: "ok", INSUFFICIENT_DATA: "unknown" }[state] || "unknown";
}

/** A state badge: `ALARM`, `OK`, `INSUFFICIENT_DATA`. */
export function stateBadge(state) {
  return h("span", { class: ["badge", "state", stateClass(state)], "data-state": state }, state);
}

export function render(root) {
  const list = h("div", { class: "table-scroll", id: "alarms-list" }, h("p", { class: "loading" }, "Loading…"));
  const history = h("div", { class: "table-scroll", id: "alarm-history" });
  const form = alarmForm(() => load());
  root.append(
    h("h1", {}, "Alarms"),
    h("p", { class: "muted" }, "CloudWatch-style alarms on group metrics (namespace AWS/X-Ray) and OTLP metrics (namespace = the service). Every transition is posted to the alarm's webhooks."),
    list, form.element, h("h2", {}, "History"), history);

  async function load() {
    let alarms, notifications;
    try {
      [alarms, notifications] = await Promise.all([api.alarms(), api.notifications().catch(() => null)]);
    } catch (error) {
      replace(list, h("p", { class: "error" }, `Cannot list alarms: ${error.message}`));
      return;
    }
    drawList(alarms, notifications);
    await drawHistory();
    live.refreshed();
  }

  function drawList(alarms, notifications) {
    if (!alarms.length) {
      replace(list, h("p", { class: "muted", id: "alarms-empty" }, "No alarms yet: create one below."));
      return;
    }
    const rows = alarms.map((alarm, index) => {
      const spark = h("span", { class: "sparkline", "data-for": alarm.AlarmName });
      if (index < MAX_SPARKLINES) drawSparkline(spark, alarm);
      const message = h("span", { class: "field-error" });
      return h("tr", { "data-alarm": alarm.AlarmName, "data-state": alarm.StateValue },
        h("td", {}, alarm.AlarmName, alarm.AlarmDescription ? h("div", { class: "muted" }, alarm.AlarmDescription) : null),
        h("td", {}, stateBadge(alarm.StateValue), h("div", { class: "muted small" }, timestamp(alarm.StateUpdatedTimestamp))),
        h("td", {}, metricText(alarm)),
        h("td", { class: "mono" }, condition(alarm)),
        h("td", {}, spark),
        h("td", { class: "delivery" }, deliveryText(alarm, notifications)),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "small", "data-action": "edit", onclick: () => form.edit(alarm) }, "Edit"),
          h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: () => remove(alarm, message) }, "Delete"),
          message));
    });
    replace(list, h("table", { class: "list", id: "alarms-table" },
      h("thead", {}, h("tr", {}, ["Name", "State", "Metric", "Condition", `Last ${SPARK_HOURS} h`, "Last notification", ""].map((title) => h("th", {}, title)))),
      h("tbody", {}, rows)));
  }

  async function drawHistory() {
    let items;
    try {
      items = await api.alarmHistory();
    } catch (error) {
      replace(history, h("p", { class: "error" }, `Cannot read the history: ${error.message}`));
      return;
    }
    if (!items.length) return replace(history, h("p", { class: "muted" }, "No transitions yet."));
    replace(history, h("table", { class: "list", id: "alarm-history-table" },
      h("thead", {}, h("tr", {}, ["Time", "Alarm", "Change", "Reason"].map((title) => h("th", {}, title)))),
      h("tbody", {}, items.slice(0, HISTORY_ROWS).map((item) => h("tr", { "data-alarm": item.AlarmName },
        h("td", { class: "nowrap" }, timestamp(item.Timestamp)),
        h("td", {}, item.AlarmName),
        h("td", { class: "nowrap" }, stateBadge(item.OldState), " → ", stateBadge(item.NewState)),
        h("td", { class: "reason" }, item.Reason))))));
  }

  async function remove(alarm, message) {
    if (!window.confirm(`Delete alarm ${alarm.AlarmName}?`)) return;
    try {
      await api.deleteAlarm(alarm.AlarmName);
      await load();
    } catch (error) {
      message.textContent = error.message;
    }
  }

  load();
  live.watch(load);
  return {};
}

function metricText(alarm) {
  const dimensions = Object.entries(alarm.Dimensions || {}).map(([name, value]) => `${name}=${value}`).join(", ");
  return [h("div", {}, `${alarm.Namespace} · ${alarm.MetricName}`), dimensions ? h("div", { class: "muted small" }, dimensions) : null];
}

function condition(alarm) {
  const operator = OPERATORS[alarm.ComparisonOperator] || alarm.ComparisonOperator;
  return `${alarm.Statistic} ${operator} ${alarm.Threshold} for ${alarm.DatapointsToAlarm} of ${alarm.EvaluationPeriods} × ${alarm.Period} s`;
}

/** The last delivery to each of the alarm's webhooks, from the notifier's statuses. */
function deliveryText(alarm, notifications) {
  if (!(alarm.AlarmActions || []).length) return h("span", { class: "muted" }, "no webhook");
  if (!notifications) return h("span", { class: "muted" }, "unknown");
  const mine = (notifications.Deliveries || []).filter((status) => status.Source === `alarm/${alarm.AlarmName}`);
  if (!mine.length) return h("span", { class: "muted" }, "none sent yet");
  return mine.map((status) => h("div", { class: ["delivery-status", status.Outcome], title: status.Url, "data-outcome": status.Outcome },
    `${status.Outcome} (${status.Attempts} attempt${status.Attempts === 1 ? "" : "s"})`,
    status.Error ? h("div", { class: "muted small" }, status.Error) : null));
}

/** The metric's last hours as an SVG polyline with the threshold as a dashed line. */
async function drawSparkline(host, alarm) {
  const end = Math.floor(Date.now() / 1000);
  let series;
  try {
    series = await api.metricSeries({
      start: end - SPARK_HOURS * 3600, end, service: alarm.Namespace, name: alarm.MetricName,
      statistic: SERIES_STATISTIC[alarm.Statistic], period: alarm.Period, attributes: alarm.Dimensions,
    });
  } catch (error) {
    replace(host, h("span", { class: "muted small", title: error.message }, "no series"));
    return;
  }
  const values = (series.Values || []).filter((point) => point.Value !== null);
  const times = (series.Values || []).map((point) => point.Timestamp);
  const [from, to] = [Math.min(...times, end - SPARK_HOURS * 3600), Math.max(...times, end)];
  const top = Math.max(alarm.Threshold, ...values.map((point) => point.Value)) * 1.1 || 1;
  const bottom = Math.min(0, alarm.Threshold, ...values.map((point) => point.Value));
  const x = (t) => ((t - from) / Math.max(to - from, 1)) * SPARK_WIDTH;
  const y = (v) => SPARK_HEIGHT - ((v - bottom) / Math.max(top - bottom, 1e-9)) * SPARK_HEIGHT;
  const last = values[values.length - 1];
  const points = values.map((point) => `${x(point.Timestamp).toFixed(1)},${y(point.Value).toFixed(1)}`).join(" ");
  replace(host, svg("svg", { class: "spark", width: SPARK_WIDTH, height: SPARK_HEIGHT, viewBox: `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`, role: "img", "aria-label": `${alarm.MetricName}: ${values.length} datapoints, threshold ${alarm.Threshold}`, "data-points": values.length },
    svg("title", {}, `${values.length} datapoints over ${SPARK_HOURS} h; threshold ${alarm.Threshold}`),
    svg("line", { class: "spark-threshold", x1: 0, x2: SPARK_WIDTH, y1: y(alarm.Threshold), y2: y(alarm.Threshold) }),
    values.length ? svg("polyline", { class: "spark-line", points }) : null,
    // The newest datapoint as a dot: a lone datapoint draws no line.
    last ? svg("circle", { class: "spark-dot", cx: x(last.Timestamp).toFixed(1), cy: y(last.Value).toFixed(1), r: 2.5 }) : null));
}

/** The create/edit form; `edit(alarm)` fills it from an alarm, the group picker from a group. */
function alarmForm(onSaved) {
  const field = (name, attributes = {}) => h("input", { id: `alarm-${name}`, name, autocomplete: "off", ...attributes });
  const select = (name, options, value) => h("select", { id: `alarm-${name}`, name }, options.map((option) => h("option", { value: option, selected: option === value }, option)));
  const inputs = {
    AlarmName: field("AlarmName", { required: true, maxlength: "255" }),
    AlarmDescription: field("AlarmDescription"),
    Namespace: field("Namespace", { required: true, value: "AWS/X-Ray" }),
    MetricName: field("MetricName", { required: true, value: "ApproximateTraceCount" }),
    Dimensions: h("textarea", { id: "alarm-Dimensions", name: "Dimensions", rows: "2", spellcheck: "false", placeholder: "GroupName=slow (one Name=Value per line)" }),
    Statistic: select("Statistic", STATISTICS, "Sum"),
    Period: field("Period", { type: "number", min: "60", step: "60", value: "60" }),
    EvaluationPeriods: field("EvaluationPeriods", { type: "number", min: "1", value: "3" }),
    DatapointsToAlarm: field("DatapointsToAlarm", { type: "number", min: "1", value: "3" }),
    ComparisonOperator: select("ComparisonOperator", Object.keys(OPERATORS), "GreaterThanThreshold"),
    Threshold: field("Threshold", { type: "number", step: "any", required: true, value: "1" }),
    TreatMissingData: select("TreatMissingData", MISSING, "missing"),
    AlarmActions: h("textarea", { id: "alarm-AlarmActions", name: "AlarmActions", rows: "2", spellcheck: "false", placeholder: "https://hooks.example.com/alarm (one webhook URL per line)" }),
  };
  const errors = Object.fromEntries(Object.keys(inputs).map((name) => [name, h("p", { class: "field-error", "data-for": name })]));
  const formError = h("p", { class: "field-error", "data-for": "form" });
  const groupPicker = h("select", { id: "alarm-group", "aria-label": "Create from a group" }, h("option", { value: "" }, "— from a group —"));
  groupPicker.addEventListener("change", () => fromGroup(groupPicker.value));
  const title = h("h2", {}, "New alarm");
  const submit = h("button", { type: "submit", id: "alarm-save" }, "Create alarm");
  const cancel = h("button", { type: "button", class: "secondary hidden", onclick: () => reset() }, "Cancel");
  const labelled = (name, label) => h("div", { class: "field" }, h("label", { for: `alarm-${name}` }, label), inputs[name], errors[name]);
  const element = h("form", { id: "alarm-form", class: "card form" }, title,
    h("div", { class: "field" }, h("label", { for: "alarm-group" }, "Create from a group"), groupPicker),
    labelled("AlarmName", "Name"), labelled("AlarmDescription", "Description"),
    labelled("Namespace", "Namespace (AWS/X-Ray, or a service's name for its OTLP metrics)"), labelled("MetricName", "Metric"),
    labelled("Dimensions", "Dimensions"), labelled("Statistic", "Statistic"), labelled("Period", "Period (seconds)"),
    labelled("EvaluationPeriods", "Evaluation periods (N)"), labelled("DatapointsToAlarm", "Datapoints to alarm (M of N)"),
    labelled("ComparisonOperator", "Comparison"), labelled("Threshold", "Threshold"),
    labelled("TreatMissingData", "Missing data"), labelled("AlarmActions", "Webhooks"),
    formError, h("div", { class: "actions" }, submit, cancel));
  let editing = null;

  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const item of [...Object.values(errors), formError]) replace(item);
    try {
      await api.putAlarm(request());
      reset();
      await onSaved();
    } catch (error) {
      showFieldError(errors, formError, error.message, { "webhook URL": "AlarmActions", "Name=Value": "Dimensions" });
    }
  });

  function request() {
    const number = (name) => Number(inputs[name].value);
    const dimensions = {};
    for (const line of inputs.Dimensions.value.split("\n").map((text) => text.trim()).filter(Boolean)) {
      const at = line.indexOf("=");
      if (at <= 0) throw new api.ApiError("InvalidDimensions", `Dimensions: expected Name=Value, got ${JSON.stringify(line)}`, 400);
      dimensions[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return {
      AlarmName: editing || inputs.AlarmName.value.trim(),
      AlarmDescription: inputs.AlarmDescription.value.trim(),
      Namespace: inputs.Namespace.value.trim(),
      MetricName: inputs.MetricName.value.trim(),
      Dimensions: dimensions,
      Statistic: inputs.Statistic.value,
      Period: number("Period"),
      EvaluationPeriods: number("EvaluationPeriods"),
      DatapointsToAlarm: number("DatapointsToAlarm"),
      ComparisonOperator: inputs.ComparisonOperator.value,
      Threshold: number("Threshold"),
      TreatMissingData: inputs.TreatMissingData.value,
      AlarmActions: inputs.AlarmActions.value.split("\n").map((text) => text.trim()).filter(Boolean),
    };
  }

  function fromGroup(group) {
    if (!group) return;
    inputs.Namespace.value = "AWS/X-Ray";
    inputs.MetricName.value = "ApproximateTraceCount";
    inputs.Dimensions.value = `GroupName=${group}`;
    if (!editing && !inputs.AlarmName.value) inputs.AlarmName.value = `${group}-traces`;
  }

  function reset() {
    editing = null;
    element.reset();
    inputs.AlarmName.disabled = false;
    title.textContent = "New alarm";
    submit.textContent = "Create alarm";
    cancel.classList.add("hidden");
    for (const item of [...Object.values(errors), formError]) replace(item);
  }

  function edit(alarm) {
    reset();
    editing = alarm.AlarmName;
    for (const name of ["AlarmName", "AlarmDescription", "Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "DatapointsToAlarm", "ComparisonOperator", "Threshold", "TreatMissingData"]) {
      inputs[name].value = alarm[name] ?? "";
    }
    inputs.Dimensions.value = Object.entries(alarm.Dimensions || {}).map(([name, value]) => `${name}=${value}`).join("\n");
    inputs.AlarmActions.value = (alarm.AlarmActions || []).join("\n");
    inputs.AlarmName.disabled = true;
    title.textContent = `Edit ${alarm.AlarmName}`;
    submit.textContent = "Update alarm";
    cancel.classList.remove("hidden");
    inputs.Threshold.focus();
  }

  api.groups().then((groups) => {
    for (const group of groups.filter((item) => item.GroupName !== "Default")) groupPicker.append(h("option", { value: group.GroupName }, group.GroupName));
  }).catch(() => {});
  return { element, edit };
}
