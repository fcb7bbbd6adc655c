//! Send → queryable latency of a running `fluoro serve`: while a load runs, probe traces are
//! sent one at a time over UDP and polled until `BatchGetTraces` returns the trace and
//! `GetServiceGraph` counts its service; each probe's time is from the send to the later of
//! the two.
//!
//! Each probe is one segment of its own service (`fluoro-load-probe-<n>`), so the service graph
//! answers for that probe alone. The graph is asked for a narrow window around the probe's
//! start, as a dashboard showing the last minute would be for the newest data; a wide window
//! would make each poll a full scan of recent data, which the probe would then be measuring.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::udp_load::HEADER;

/// Between two polls of the same probe.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Between two service graph polls: each is a scan of the window (recent data under the
/// store's read lock), and polling it every 10 ms stalled the writers enough to drop a quarter
/// of a 20k/s load; a dashboard refreshes far less often.
const GRAPH_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// A probe not readable after this long counts as lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The trace ids' top digits, out of the UDP senders' range (`udp_load::set_trace`).
const PROBE_TRACE_PREFIX: u32 = 0xfeed_0000;

/// What the probes saw: one latency per probe that became readable, and the lost ones.
#[derive(Debug, Default, Clone)]
pub struct ProbeResults {
    pub latencies: Vec<Duration>,
    pub lost: usize,
}

impl ProbeResults {
    /// The `quantile` (0 to 1) of the latencies, nearest rank.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied()
    }
}

/// Sends a probe every `interval` (or as soon as the last one is readable, if later) until
/// `stop`, polling the server's HTTP API at `http`.
pub async fn run_probes(
    udp: SocketAddr,
    http: SocketAddr,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<ProbeResults> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(udp)?;
    let client = reqwest::Client::new();
    let mut results = ProbeResults::default();
    let mut serial = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let due = Instant::now() + interval;
        serial += 1;
        match probe_once(&socket, &client, http, serial).await? {
            Some(latency) => results.latencies.push(latency),
            None => results.lost += 1,
        }
        tokio::time::sleep_until(due.into()).await;
    }
    Ok(results)
}

/// One probe's send → readable time, `None` if it was not readable within [`PROBE_TIMEOUT`].
async fn probe_once(
    socket: &UdpSocket,
    client: &reqwest::Client,
    http: SocketAddr,
    serial: u64,
) -> anyhow::Result<Option<Duration>> {
    let start = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let trace_id = format!("1-{:08x}-{PROBE_TRACE_PREFIX:08x}{serial:016x}", start as u32);
    let service = format!("fluoro-load-probe-{serial}");
    let document = serde_json::json!({
        "name": service,
        "id": format!("{serial:016x}"),
        "trace_id": trace_id,
        "start_time": start,
        "end_time": start + 0.001,
    });
    let sent = Instant::now();
    socket.send(format!("{HEADER}\n{document}").as_bytes())?;
    let (mut trace_read, mut graph_counted) = (false, false);
    let mut next_graph_poll = sent;
    while sent.elapsed() < PROBE_TIMEOUT {
        trace_read = trace_read || trace_is_returned(client, http, &trace_id).await?;
        if trace_read && !graph_counted && Instant::now() >= next_graph_poll {
            graph_counted = graph_counts(client, http, &service, start).await?;
            next_graph_poll = Instant::now() + GRAPH_POLL_INTERVAL;
        }
        if trace_read && graph_counted {
            return Ok(Some(sent.elapsed()));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(None)
}

async fn trace_is_returned(client: &reqwest::Client, http: SocketAddr, trace_id: &str) -> anyhow::Result<bool> {
    let answer: serde_json::Value = client
        .post(format!("http://{http}/Traces"))
        .json(&serde_json::json!({ "TraceIds": [trace_id] }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["Traces"].as_array().is_some_and(|traces| !traces.is_empty()))
}

/// Whether `GetServiceGraph` over a second around `start` has a node for `service`.
async fn graph_counts(client: &reqwest::Client, http: SocketAddr, service: &str, start: f64) -> anyhow::Result<bool> {
    let answer: serde_json::Value = client
        .post(format!("http://{http}/ServiceGraph"))
        .json(&serde_json::json!({ "StartTime": start - 0.5, "EndTime": start + 0.5 }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let services = answer["Services"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(services.iter().any(|node| node["Name"] == service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let results = ProbeResults { latencies: (1..=100).rev().map(Duration::from_millis).collect(), lost: 0 };
        assert_eq!(results.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(results.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(ProbeResults::default().quantile(0.99), None);
    }
}
