//! A query node's collectors (`fluoro serve --role query --collectors URL,…`): their recent
//! spans, log records and metric points over HTTP (`fluoro_ui::handover_router` on each collector's API port), asked of all of them at
//! once, each within [`COLLECTOR_TIMEOUT`]. A collector that does not answer is left out of the
//! answer, logged and counted on `/metrics`
//! (`fluoro_collector_unanswered_total{collector="URL"}`): its blocks in the bucket still
//! answer, only what it has not flushed is missing until it is back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fluoro_collector::ApiToken;
use fluoro_proto::{LogRow, MetricPoint, SegmentId, TraceId};
use fluoro_store::{decode_spans, LogPage, LogQuery, MetricName, MetricQuery, RecentSource, StoredSpan};
use serde::de::DeserializeOwned;
use serde_json::json;

/// How long one collector may take to answer one read.
const COLLECTOR_TIMEOUT: Duration = Duration::from_secs(10);

/// The collectors, by their API base URL.
pub(crate) struct HttpCollectors {
    collectors: Vec<Collector>,
    client: reqwest::Client,
    token: Option<ApiToken>,
    runtime: tokio::runtime::Runtime,
}

struct Collector {
    url: String,
    unanswered: AtomicU64,
}

impl std::fmt::Debug for HttpCollectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.collectors.iter().map(|c| c.url.as_str()).collect();
        f.debug_struct("HttpCollectors").field("urls", &urls).finish()
    }
}

impl HttpCollectors {
    /// `token` is sent to every collector (they share the cluster's API token).
    pub(crate) fn new(urls: &[String], token: Option<ApiToken>) -> anyhow::Result<Arc<HttpCollectors>> {
        anyhow::ensure!(!urls.is_empty(), "a query node needs --collectors (or `collectors` in the config file)");
        let collectors = urls
            .iter()
            .map(|url| {
                let url = url.trim_end_matches('/').to_string();
                reqwest::Url::parse(&url).with_context(|| format!("collector URL {url}"))?;
                Ok(Collector { url, unanswered: AtomicU64::new(0) })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let client = reqwest::Client::builder().timeout(COLLECTOR_TIMEOUT).build()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        Ok(Arc::new(HttpCollectors { collectors, client, token, runtime }))
    }

    /// The unanswered reads per collector, as Prometheus text.
    pub(crate) fn prometheus(&self) -> String {
        let mut text = String::from(
            "# HELP fluoro_collector_unanswered_total Reads of a collector's recent data that failed or timed out.\n\
             # TYPE fluoro_collector_unanswered_total counter\n",
        );
        for collector in &self.collectors {
            let count = collector.unanswered.load(Ordering::Relaxed);
            text.push_str(&format!("fluoro_collector_unanswered_total{{collector=\"{}\"}} {count}\n", collector.url));
        }
        text
    }

    /// Sends one request to every collector at once; the decoded answers of those that answered.
    fn ask_all<T: Send + 'static>(
        &self,
        request: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
        decode: fn(&[u8]) -> anyhow::Result<T>,
    ) -> Vec<T> {
        let requests: Vec<_> = self
            .collectors
            .iter()
            .map(|collector| {
                let builder = request(&self.client, &collector.url);
                match &self.token {
                    Some(token) => builder.bearer_auth(token.secret()),
                    None => builder,
                }
            })
            .collect();
        // Its own runtime on a thread of its own: the store calls this from async workers and
        // from blocking threads alike.
        let answers =
            std::thread::scope(|scope| scope.spawn(|| self.runtime.block_on(fetch_all(requests, decode))).join());
        let mut answered = Vec::new();
        for (collector, answer) in self.collectors.iter().zip(answers.unwrap_or_default()) {
            match answer {
                Ok(answer) => answered.push(answer),
                Err(error) => {
                    collector.unanswered.fetch_add(1, Ordering::Relaxed);
                    let error = format!("{error:#}");
                    tracing::warn!(collector = %collector.url, %error, "a collector did not answer; answering without it");
                }
            }
        }
        answered
    }
}

impl RecentSource for HttpCollectors {
    fn spans_in(&self, from_us: i64, to_us: i64, documents: bool) -> Vec<Vec<StoredSpan>> {
        let query =
            [("from_us", from_us.to_string()), ("to_us", to_us.to_string()), ("documents", documents.to_string())];
        self.ask_all(|client, url| client.get(format!("{url}/internal/recent/spans")).query(&query), spans)
    }

    fn traces(&self, ids: &[TraceId]) -> Vec<Vec<StoredSpan>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.ask_all(|client, url| client.post(format!("{url}/internal/recent/traces")).json(&ids), spans)
    }

    fn trace_logs(&self, trace_id: TraceId, span_id: Option<SegmentId>) -> Vec<Vec<LogRow>> {
        let body = json!({ "trace_id": trace_id, "span_id": span_id });
        self.ask_all(|client, url| client.post(format!("{url}/internal/logs/trace")).json(&body), from_json)
    }

    fn search_logs(&self, query: &LogQuery) -> Vec<LogPage> {
        self.ask_all(|client, url| client.post(format!("{url}/internal/logs/search")).json(query), from_json)
    }

    fn metric_points(&self, query: &MetricQuery) -> Vec<Vec<MetricPoint>> {
        self.ask_all(|client, url| client.post(format!("{url}/internal/metrics/points")).json(query), from_json)
    }

    fn metric_names(&self, service: Option<&str>, from_us: i64, to_us: i64) -> Vec<Vec<MetricName>> {
        let body = json!({ "service": service, "from_us": from_us, "to_us": to_us });
        self.ask_all(|client, url| client.post(format!("{url}/internal/metrics/names")).json(&body), from_json)
    }
}

fn spans(body: &[u8]) -> anyhow::Result<Vec<StoredSpan>> {
    Ok(decode_spans(body)?)
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> anyhow::Result<T> {
    Ok(serde_json::from_slice(body)?)
}

async fn fetch<T>(request: reqwest::RequestBuilder, decode: fn(&[u8]) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
    decode(&body)
}

/// Every request at once; the answers in the same order.
async fn fetch_all<T: Send + 'static>(
    requests: Vec<reqwest::RequestBuilder>,
    decode: fn(&[u8]) -> anyhow::Result<T>,
) -> Vec<anyhow::Result<T>> {
    let handles: Vec<_> = requests.into_iter().map(|request| tokio::spawn(fetch(request, decode))).collect();
    let mut answers = Vec::with_capacity(handles.len());
    for handle in handles {
        answers.push(handle.await.unwrap_or_else(|error| Err(anyhow::anyhow!("collector read failed: {error}"))));
    }
    answers
}
