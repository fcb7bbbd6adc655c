// One log line as people read it, shared by the trace page's log panel and the Logs page:
// its severity's name and colour class, and its table row (time, service, severity, message).

import { h } from "./dom.js";
import { timestamp } from "./format.js";

/** OTLP's severity ranges of four: 1–4 TRACE … 21–24 FATAL; the lowest number of each is its filter value. */
export const SEVERITIES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/** One log line as a table row; the message keeps its line breaks. `extra` cells follow the message. */
export function logRow(line, ...extra) {
  return h("tr", { class: ["log-line", severityClass(line.SeverityNumber)], "data-segment-id": line.SegmentId ?? "" },
    h("td", { class: "mono" }, timestamp(line.Time)),
    h("td", {}, line.Service ?? ""),
    h("td", {}, severityOf(line)),
    h("td", { class: "message" }, line.Body ?? ""),
    extra);
}

/** The name the sender gave, else the name of its number's range. */
export function severityOf(line) {
  return line.SeverityText || severityName(line.SeverityNumber);
}

function severityName(number) {
  return number >= 1 && number <= 24 ? SEVERITIES[Math.floor((number - 1) / 4)] : "";
}

export function severityClass(number) {
  if (number >= 17) return "sev-error";
  if (number >= 13) return "sev-warn";
  return null;
}
