// Numbers, times and statistics as people read them.

/** Seconds as "850 µs", "12.3 ms", "1.25 s", "2 min 5 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const abs = Math.abs(seconds);
  if (abs < 0.001) return `${Math.round(seconds * 1e6)} µs`;
  if (abs < 1) return `${trim(seconds * 1000)} ms`;
  if (abs < 120) return `${trim(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function trim(value) {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** Epoch seconds as local "2026-12-04 10:15:03.120". */
export function timestamp(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "–";
  const date = new Date(epochSeconds * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export function clock(date) {
  return date.toLocaleTimeString([], { hour12: false });
}

export function percent(part, whole) {
  if (!whole) return "0%";
  const share = (100 * part) / whole;
  return share > 0 && share < 1 ? "<1%" : `${Math.round(share)}%`;
}

export function rate(count, windowSeconds) {
  if (!windowSeconds) return "–";
  const perMinute = (count * 60) / windowSeconds;
  return `${perMinute >= 10 ? perMinute.toFixed(0) : perMinute.toFixed(1)}/min`;
}

/** The counts of an X-Ray ServiceStatistics or EdgeStatistics, flattened. */
export function counts(statistics) {
  const s = statistics || {};
  const errors = s.ErrorStatistics || {};
  const faults = s.FaultStatistics || {};
  const total = s.TotalCount || 0;
  return {
    total,
    ok: s.OkCount || 0,
    error: errors.OtherCount || 0,
    throttle: errors.ThrottleCount || 0,
    fault: faults.TotalCount || faults.OtherCount || 0,
    averageSeconds: total ? (s.TotalResponseTime || 0) / total : null,
  };
}

/** A client node has no statistics of its own: its requests are those of its edges. */
export function serviceStatistics(service) {
  if (service.SummaryStatistics || !(service.Edges || []).length) return service.SummaryStatistics;
  const sum = { OkCount: 0, TotalCount: 0, TotalResponseTime: 0, ErrorStatistics: { OtherCount: 0, ThrottleCount: 0, TotalCount: 0 }, FaultStatistics: { OtherCount: 0, TotalCount: 0 } };
  for (const edge of service.Edges) {
    const s = edge.SummaryStatistics || {};
    sum.OkCount += s.OkCount || 0;
    sum.TotalCount += s.TotalCount || 0;
    sum.TotalResponseTime += s.TotalResponseTime || 0;
    sum.ErrorStatistics.OtherCount += s.ErrorStatistics?.OtherCount || 0;
    sum.ErrorStatistics.ThrottleCount += s.ErrorStatistics?.ThrottleCount || 0;
    sum.ErrorStatistics.TotalCount += s.ErrorStatistics?.TotalCount || 0;
    sum.FaultStatistics.OtherCount += s.FaultStatistics?.OtherCount || 0;
    sum.FaultStatistics.TotalCount += s.FaultStatistics?.TotalCount || 0;
  }
  return sum;
}

/** "fault" if any request faulted, else "error" if any erred or was throttled, else "ok". */
export function health(c) {
  if (c.fault > 0) return "fault";
  if (c.error > 0 || c.throttle > 0) return "error";
  return "ok";
}

/** Percentiles from an X-Ray histogram `[{Value, Count}]`: the value at which the running count reaches p. */
export function percentiles(histogram, ps = [0.5, 0.9, 0.99]) {
  const entries = [...(histogram || [])].sort((a, b) => a.Value - b.Value);
  const total = entries.reduce((sum, entry) => sum + entry.Count, 0);
  return ps.map((p) => {
    if (!total) return null;
    const rank = Math.max(1, Math.ceil(p * total));
    let seen = 0;
    for (const entry of entries) {
      seen += entry.Count;
      if (seen >= rank) return entry.Value;
    }
    return entries[entries.length - 1].Value;
  });
}

/** A string inside a filter expression's double quotes. */
export function quoted(text) {
  return `"${String(text).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}
