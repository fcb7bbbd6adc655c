// The one module that talks to the server: every fetch of the dashboard goes through here. It
// knows the request and answer shapes of the X-Ray operations and Fluoro's JSON routes, and
// turns error answers (`{"__type", "message"}`, header x-amzn-errortype) into ApiError.

export class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }

  /** The 1-based column of a filter-expression error, or null: the parser names it in its message. */
  get column() {
    return filterErrorColumn(this.message);
  }
}

/**
 * The column a filter-expression message points at. `expected X after Y at column N` names the
 * real column last (X may itself mention the column of an open bracket); every other message
 * names it first.
 */
export function filterErrorColumn(message) {
  const matches = [...String(message).matchAll(/column (\d+)/g)].map((match) => Number(match[1]));
  if (!matches.length) return null;
  return /^(Baseline: )?expected /.test(message) ? matches[matches.length - 1] : matches[0];
}

function post(path, body) {
  return send(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
}

async function send(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError("NetworkError", `cannot reach the server: ${error.message}`, 0);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let answer = {};
  try {
    answer = text ? JSON.parse(text) : {};
  } catch {
    if (response.ok) throw new ApiError("InvalidAnswer", `${path} answered something other than JSON`, response.status);
  }
  if (!response.ok) {
    const type = response.headers.get("x-amzn-errortype") || answer.__type || `HTTP ${response.status}`;
    throw new ApiError(type, answer.message || answer.Message || text || response.statusText, response.status);
  }
  return answer;
}

/** Drops empty optional fields, so the server sees them absent. */
function compact(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined && value !== null && value !== ""));
}

/** Follows NextToken until the answer is whole (`field` is the list to concatenate). */
async function allPages(path, body, field, maxPages = 20) {
  const items = [];
  let token;
  for (let page = 0; page < maxPages; page++) {
    const answer = await post(path, compact({ ...body, NextToken: token }));
    items.push(...(answer[field] || []));
    token = answer.NextToken;
    if (!token) break;
  }
  return items;
}

// --- the service map -----------------------------------------------------------------------

/** GetServiceGraph over a window, optionally one group's: `Services` with their `Edges`. */
export async function serviceGraph({ start, end, group }) {
  return allPages("/ServiceGraph", { StartTime: start, EndTime: end, GroupName: group }, "Services");
}

/** GetTraceGraph: the graph of some traces only (at most 1000 ids per call). */
export async function traceGraph(traceIds) {
  const services = [];
  for (let i = 0; i < traceIds.length; i += 1000) {
    services.push(...(await allPages("/TraceGraph", { TraceIds: traceIds.slice(i, i + 1000) }, "Services")));
  }
  return services;
}

/** GetTimeSeriesServiceStatistics for `service("X")` or `edge("A", "B")`. */
export async function timeSeries({ start, end, group, selector, period }) {
  return allPages(
    "/TimeSeriesServiceStatistics",
    { StartTime: start, EndTime: end, GroupName: group, EntitySelectorExpression: selector, Period: period },
    "TimeSeriesServiceStatistics",
  );
}

/** `POST /api/services/resources`: a service's CPU and memory beside its requests, faults and latency. */
export async function serviceResources({ start, end, service, period }) {
  return post("/api/services/resources", { StartTime: start, EndTime: end, Service: service, Period: period });
}

// --- traces --------------------------------------------------------------------------------

/** One page of GetTraceSummaries: `{TraceSummaries, NextToken, TracesProcessedCount}`. */
export async function traceSummaries({ start, end, filter, nextToken }) {
  return post("/TraceSummaries", compact({ StartTime: start, EndTime: end, FilterExpression: filter, NextToken: nextToken }));
}

/** The ids of up to `limit` traces matching a filter (for the map of a filter expression). */
export async function traceIds({ start, end, filter, limit = 1000 }) {
  const ids = [];
  let token;
  do {
    const page = await traceSummaries({ start, end, filter, nextToken: token });
    ids.push(...(page.TraceSummaries || []).map((summary) => summary.Id));
    token = page.NextToken;
  } while (token && ids.length < limit);
  return ids.slice(0, limit);
}

/**
 * BatchGetTraces for one trace: its segment documents parsed, or null when the server has no
 * such trace. X-Ray and OTLP spans of the trace come back as one set of documents.
 */
export async function trace(traceId) {
  const answer = await post("/Traces", { TraceIds: [traceId] });
  const found = (answer.Traces || [])[0];
  if (!found) return null;
  const documents = [];
  for (const segment of found.Segments || []) {
    try {
      documents.push(JSON.parse(segment.Document));
    } catch {
      // A document the server stored is JSON; if one ever is not, show the rest.
    }
  }
  return { id: found.Id, duration: found.Duration, documents };
}

// --- Fluoro JSON routes ----------------------------------------------------------------------

/** `POST /api/histogram`: exact latency statistics and distributions of a filter's traces. */
export async function histogram({ start, end, filter, group }) {
  return post("/api/histogram", compact({ StartTime: start, EndTime: end, FilterExpression: filter, GroupName: group }));
}

/** `POST /api/compare`: set A (`selection`) against set B (`baseline`, or the rest when empty). */
export async function compare({ start, end, selection, baseline, group }) {
  return post("/api/compare", compact({ StartTime: start, EndTime: end, Selection: selection, Baseline: baseline, GroupName: group }));
}

/** `POST /api/logs/trace`: the log lines of a trace (or of one segment), oldest first. */
export async function traceLogs(traceId, segmentId) {
  return (await post("/api/logs/trace", compact({ TraceId: traceId, SegmentId: segmentId }))).Logs || [];
}

/** One page of `POST /api/logs/search`, newest first: `{Logs, NextToken}`. */
export async function searchLogs({ start, end, service, severity, text, limit, nextToken }) {
  return post("/api/logs/search", compact({
    StartTime: start, EndTime: end, Service: service, Severity: severity, Text: text, Limit: limit, NextToken: nextToken,
  }));
}

// --- groups --------------------------------------------------------------------------------

export async function groups() {
  return allPages("/Groups", {}, "Groups");
}

export async function createGroup({ name, filter }) {
  return (await post("/CreateGroup", compact({ GroupName: name, FilterExpression: filter }))).Group;
}

export async function updateGroup({ name, filter }) {
  return (await post("/UpdateGroup", { GroupName: name, FilterExpression: filter ?? "" })).Group;
}

export async function deleteGroup(name) {
  return post("/DeleteGroup", { GroupName: name });
}

// --- sampling rules ------------------------------------------------------------------------

export async function samplingRules() {
  return allPages("/GetSamplingRules", {}, "SamplingRuleRecords");
}

export async function createSamplingRule(rule) {
  return (await post("/CreateSamplingRule", { SamplingRule: rule })).SamplingRuleRecord;
}

export async function updateSamplingRule(update) {
  return (await post("/UpdateSamplingRule", { SamplingRuleUpdate: update })).SamplingRuleRecord;
}

export async function deleteSamplingRule(name) {
  return post("/DeleteSamplingRule", { RuleName: name });
}

// --- alarms (CloudWatch's operations) and their notifications --------------------------------

/** DescribeAlarms: every alarm with its state (no history). */
export async function alarms() {
  return (await post("/DescribeAlarms", {})).MetricAlarms || [];
}

/** PutMetricAlarm: creates or replaces an alarm (a replaced one keeps its state and history). */
export async function putAlarm(alarm) {
  return post("/PutMetricAlarm", alarm);
}

export async function deleteAlarm(name) {
  return post("/DeleteAlarms", { AlarmNames: [name] });
}

/** DescribeAlarmHistory: transitions, newest first; every alarm's when `name` is absent. */
export async function alarmHistory(name) {
  return (await post("/DescribeAlarmHistory", compact({ AlarmName: name }))).AlarmHistoryItems || [];
}

/** POST /api/metrics/series: one metric of one service per period (`Values`). */
export async function metricSeries({ start, end, service, name, statistic, period, attributes }) {
  return post("/api/metrics/series", compact({ StartTime: start, EndTime: end, Service: service, Name: name, Statistic: statistic, Period: period, Attributes: attributes }));
}

/** GET /api/notifications: webhook delivery counts and the last status per source and URL. */
export async function notifications() {
  return send("/api/notifications", { method: "GET" });
}
// --- insights ---------------------------------------------------------------------------------

/** GetInsightSummaries: insights active in the window (every group), latest start first. */
export async function insightSummaries({ start, end, states }) {
  return allPages("/InsightSummaries", { StartTime: start, EndTime: end, States: states?.length ? states : undefined }, "InsightSummaries");
}

/** GetInsight: one insight, with its impact. */
export async function insight(insightId) {
  return (await post("/Insight", { InsightId: insightId })).Insight;
}

/** GetInsightEvents: the insight's events, latest first. */
export async function insightEvents(insightId) {
  return allPages("/InsightEvents", { InsightId: insightId }, "InsightEvents");
}

// --- the demo's scenario switches ------------------------------------------------------------

/**
 * The running demo's scenario (`{traffic, billing, errormode1}`), or null when this server was
 * not started by `fluoro demo` (204).
 */
export function demoScenario() {
  return send("/api/demo/scenario", { method: "GET" });
}

/** Switches part of the demo's scenario (`{traffic: 5}`, `{billing: "on-demand"}`, `{errormode1: "on"}`); answers the new one. */
export function changeDemoScenario(change) {
  return post("/api/demo/scenario", change);
}
