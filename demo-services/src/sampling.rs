//! Centralized sampling as the X-Ray SDKs do it, against the sidecar's sampling port: the rules
//! from `POST /GetSamplingRules`, the first matching rule by priority decides, its reservoir
//! quota comes from `POST /SamplingTargets` (reported every 10 s) and `FixedRate` covers the
//! rest. Before the first quota a rule borrows one request a second, as the SDKs do.
//!
//! - Matching: `ServiceName`, `Host`, `HTTPMethod`, `URLPath` are case-insensitive globs (`*`,
//!   `?`); `ServiceType` and `ResourceARN` must be `*` (these services run nowhere in AWS).
//! - Rules are refetched every 10 s (the SDKs: 5 minutes), so a rule edited in the dashboard
//!   shows within seconds.
//! - Without rules (the sidecar unreachable) every request is sampled at 1 a second and 5 %
//!   beyond, the SDKs' local default.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

const POLL_INTERVAL: Duration = Duration::from_secs(10);
const LOCAL_FIXED_RATE: f64 = 0.05;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Rule {
    rule_name: String,
    priority: i64,
    fixed_rate: f64,
    #[serde(rename = "ServiceName")]
    service_name: String,
    #[serde(rename = "ServiceType")]
    service_type: String,
    host: String,
    #[serde(rename = "HTTPMethod")]
    http_method: String,
    #[serde(rename = "URLPath")]
    url_path: String,
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
}

/// A rule's counters since the last report, and its quota.
#[derive(Debug, Default)]
struct RuleState {
    requests: i64,
    sampled: i64,
    borrowed: i64,
    fixed_rate: Option<f64>,
    quota: Option<(u64, Instant)>,
    /// The current second and how many were taken from the reservoir in it.
    second: u64,
    taken: u64,
}

/// The request a sampling decision is made for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) service: &'a str,
    pub(crate) host: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
}

#[derive(Debug)]
pub(crate) struct Sampler {
    rules: Mutex<Vec<Rule>>,
    states: Mutex<HashMap<String, RuleState>>,
    client_id: String,
    endpoint: Option<String>,
    http: reqwest::Client,
}

impl Sampler {
    /// A sampler asking the daemon at `daemon` (TCP); polls from a background task.
    pub(crate) async fn start(daemon: Option<SocketAddr>) -> Arc<Sampler> {
        let sampler = Arc::new(Sampler {
            rules: Mutex::new(Vec::new()),
            states: Mutex::new(HashMap::new()),
            client_id: format!("{:024x}", rand::random::<u128>() >> 32),
            endpoint: daemon.map(|address| format!("http://{address}")),
            http: reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap_or_default(),
        });
        if sampler.endpoint.is_some() {
            sampler.fetch_rules().await;
            let polling = sampler.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(POLL_INTERVAL).await;
                    polling.fetch_rules().await;
                    polling.report().await;
                }
            });
        }
        sampler
    }

    /// Whether to record `request`.
    pub(crate) fn sample(&self, request: Request<'_>) -> bool {
        let rule = self.rules.lock().iter().find(|rule| matches(rule, request)).cloned();
        let Some(rule) = rule else { return self.local_default() };
        let mut states = self.states.lock();
        let state = states.entry(rule.rule_name.clone()).or_default();
        state.requests += 1;
        let now = Instant::now();
        let second = epoch_second();
        if state.second != second {
            state.second = second;
            state.taken = 0;
        }
        let sampled = match state.quota {
            Some((quota, expires)) if now < expires => {
                if state.taken < quota {
                    state.taken += 1;
                    true
                } else {
                    rand::random::<f64>() < state.fixed_rate.unwrap_or(rule.fixed_rate)
                }
            }
            _ if state.taken == 0 => {
                state.taken = 1;
                state.borrowed += 1;
                true
            }
            _ => rand::random::<f64>() < state.fixed_rate.unwrap_or(rule.fixed_rate),
        };
        if sampled {
            state.sampled += 1;
        }
        sampled
    }

    fn local_default(&self) -> bool {
        let mut states = self.states.lock();
        let state = states.entry(String::new()).or_default();
        let second = epoch_second();
        if state.second != second {
            state.second = second;
            state.taken = 0;
        }
        if state.taken == 0 {
            state.taken = 1;
            return true;
        }
        rand::random::<f64>() < LOCAL_FIXED_RATE
    }

    async fn fetch_rules(&self) {
        let Some(endpoint) = &self.endpoint else { return };
        let answer = self.http.post(format!("{endpoint}/GetSamplingRules")).json(&json!({})).send().await;
        let Ok(body) = async { answer?.json::<Value>().await }.await else { return };
        let records = body["SamplingRuleRecords"].as_array().cloned().unwrap_or_default();
        let mut rules: Vec<Rule> = records
            .into_iter()
            .filter_map(|record| serde_json::from_value(record["SamplingRule"].clone()).ok())
            .collect();
        rules.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.rule_name.cmp(&b.rule_name)));
        *self.rules.lock() = rules;
    }

    /// Reports each rule's counts and takes the quotas the answer gives.
    async fn report(&self) {
        let Some(endpoint) = &self.endpoint else { return };
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let documents: Vec<Value> = {
            let mut states = self.states.lock();
            states
                .iter_mut()
                .filter(|(name, _)| !name.is_empty())
                .take(25)
                .map(|(name, state)| {
                    let document = json!({"RuleName": name, "ClientID": self.client_id, "Timestamp": timestamp,
                        "RequestCount": state.requests, "SampledCount": state.sampled, "BorrowCount": state.borrowed});
                    (state.requests, state.sampled, state.borrowed) = (0, 0, 0);
                    document
                })
                .collect()
        };
        if documents.is_empty() {
            return;
        }
        let body = json!({"SamplingStatisticsDocuments": documents});
        let answer = self.http.post(format!("{endpoint}/SamplingTargets")).json(&body).send().await;
        let Ok(targets) = async { answer?.json::<Value>().await }.await else { return };
        let mut states = self.states.lock();
        for target in targets["SamplingTargetDocuments"].as_array().into_iter().flatten() {
            let Some(state) = target["RuleName"].as_str().and_then(|name| states.get_mut(name)) else { continue };
            state.fixed_rate = target["FixedRate"].as_f64();
            if let (Some(quota), Some(ttl)) = (target["ReservoirQuota"].as_u64(), target["ReservoirQuotaTTL"].as_f64())
            {
                let valid_for = Duration::from_secs_f64((ttl - timestamp).clamp(0.0, 60.0));
                state.quota = Some((quota, Instant::now() + valid_for));
            }
        }
    }
}

fn epoch_second() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn matches(rule: &Rule, request: Request<'_>) -> bool {
    glob(&rule.service_name, request.service)
        && rule.service_type == "*"
        && rule.resource_arn == "*"
        && glob(&rule.host, request.host)
        && glob(&rule.http_method, request.method)
        && glob(&rule.url_path, request.path)
}

/// Case-insensitive glob: `*` any run, `?` any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(star_at) = star {
            p = star_at + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_the_sdks_do() {
        assert!(glob("*", "anything"));
        assert!(glob("/api/*", "/API/search"));
        assert!(glob("pet?ite", "PetSite"));
        assert!(!glob("/api/*/x", "/api/search"));
        assert!(glob("*search*", "/api/search?pettype=bunny"));
    }

    #[test]
    fn the_first_matching_rule_decides_and_borrows_before_its_quota() {
        let rule = |name: &str, priority, rate, path: &str| Rule {
            rule_name: name.into(),
            priority,
            fixed_rate: rate,
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: path.into(),
            resource_arn: "*".into(),
        };
        let sampler = Sampler {
            rules: Mutex::new(vec![rule("none", 1, 0.0, "/health*"), rule("all", 2, 1.0, "*")]),
            states: Mutex::new(HashMap::new()),
            client_id: "c".into(),
            endpoint: None,
            http: reqwest::Client::new(),
        };
        let request = |path| Request { service: "PetSite", host: "h", method: "GET", path };
        assert!((0..50).all(|_| sampler.sample(request("/"))));
        // One borrowed a second, then the fixed rate of 0.
        let health: usize = (0..50).filter(|_| sampler.sample(request("/health/status"))).count();
        assert!(health <= 2, "{health}");
        assert_eq!(sampler.states.lock()["all"].requests, 50);
    }
}
