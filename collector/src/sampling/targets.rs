//! The server side of `GetSamplingTargets`: who is using each rule, how each rule's reservoir is
//! divided among them, and the per-rule statistics `GetSamplingStatisticSummaries` reports.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::timestamp::lenient_epoch_seconds;

/// Seconds between two target reports we ask of each SDK (the SDKs' own default).
pub(crate) const TARGET_INTERVAL_SECONDS: u32 = 10;
/// How long a quota stays valid. A little more than one interval, so that a quota does not run
/// out while the next report (sent every 10 s plus jitter plus latency) is in flight; if the
/// SDK stops reporting it falls back to borrowing 1/s and the rule's FixedRate after this.
pub(crate) const QUOTA_TTL_SECONDS: f64 = 15.0;
/// A client shares a reservoir while its last report is this recent (1.5 intervals: one report
/// may arrive late without the client losing its share to the others).
const ACTIVE_CLIENT_SECONDS: f64 = 15.0;
/// Clients silent for this long are forgotten.
const CLIENT_EXPIRY_SECONDS: f64 = 30.0;
/// Per rule; past it the least recently seen client is forgotten to make room.
const MAX_CLIENTS_PER_RULE: usize = 1_000;
/// Statistic summaries aggregate reports over aligned windows of this length, as X-Ray does.
const SUMMARY_WINDOW_SECONDS: f64 = 10.0;
pub(crate) const MAX_STATISTICS_DOCUMENTS: usize = 25;

/// One client's report for one rule since its previous report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingStatisticsDocument {
    #[serde(rename = "RuleName")]
    pub rule_name: String,
    /// 24 hexadecimal characters, random per SDK process.
    #[serde(rename = "ClientID")]
    pub client_id: String,
    #[serde(rename = "Timestamp", deserialize_with = "lenient_epoch_seconds")]
    pub timestamp: f64,
    #[serde(rename = "RequestCount")]
    pub request_count: i64,
    #[serde(rename = "SampledCount")]
    pub sampled_count: i64,
    #[serde(rename = "BorrowCount", default)]
    pub borrow_count: i64,
}

/// What one client should apply for one rule until `ReservoirQuotaTTL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingTargetDocument {
    #[serde(rename = "RuleName")]
    pub rule_name: String,
    #[serde(rename = "FixedRate")]
    pub fixed_rate: f64,
    /// Requests per second this client may sample before applying `FixedRate`.
    #[serde(rename = "ReservoirQuota")]
    pub reservoir_quota: u64,
    #[serde(rename = "ReservoirQuotaTTL")]
    pub reservoir_quota_ttl: f64,
    #[serde(rename = "Interval")]
    pub interval: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnprocessedStatistics {
    #[serde(rename = "RuleName")]
    pub rule_name: String,
    #[serde(rename = "ErrorCode")]
    pub error_code: String,
    #[serde(rename = "Message")]
    pub message: String,
}

/// The `GetSamplingTargets` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingTargets {
    #[serde(rename = "SamplingTargetDocuments")]
    pub sampling_target_documents: Vec<SamplingTargetDocument>,
    /// Whole epoch seconds, rounded up: see `SamplingRules::last_rule_modification`.
    #[serde(rename = "LastRuleModification")]
    pub last_rule_modification: f64,
    #[serde(rename = "UnprocessedStatistics")]
    pub unprocessed_statistics: Vec<UnprocessedStatistics>,
}

/// Requests, sampled and borrowed counts of one rule over one 10-second window, all clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingStatisticSummary {
    #[serde(rename = "RuleName")]
    pub rule_name: String,
    /// Start of the window (epoch seconds).
    #[serde(rename = "Timestamp")]
    pub timestamp: f64,
    #[serde(rename = "RequestCount")]
    pub request_count: u64,
    #[serde(rename = "BorrowCount")]
    pub borrow_count: u64,
    #[serde(rename = "SampledCount")]
    pub sampled_count: u64,
}

/// Traffic state of every rule, keyed by rule name. Not persisted: after a restart clients get
/// fair shares again from their next report.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    rules: HashMap<String, RuleTraffic>,
}

#[derive(Debug, Default)]
struct RuleTraffic {
    clients: HashMap<String, Client>,
    summary: Option<SamplingStatisticSummary>,
}

#[derive(Debug, Clone, Copy)]
struct Client {
    last_seen: f64,
    /// The client's claim on the reservoir: its last RequestCount, or a fair share when new.
    weight: f64,
}

impl Traffic {
    /// Records `report` and returns the reporting client's share of `reservoir_size`.
    pub(crate) fn record(&mut self, report: &SamplingStatisticsDocument, reservoir_size: u64, now: f64) -> u64 {
        self.forget_silent_clients(now);
        let traffic = self.rules.entry(report.rule_name.clone()).or_default();
        traffic.add_to_summary(report, now);
        let request_count = report.request_count.max(0) as f64;
        let weight = match traffic.clients.get(&report.client_id) {
            Some(_) => request_count,
            None => request_count.max(traffic.mean_active_weight(now)),
        };
        traffic.make_room_for(&report.client_id);
        traffic.clients.insert(report.client_id.clone(), Client { last_seen: now, weight });
        traffic.quota_of(&report.client_id, reservoir_size, now)
    }

    pub(crate) fn forget_rule(&mut self, rule_name: &str) {
        self.rules.remove(rule_name);
    }

    pub(crate) fn summaries(&self) -> Vec<SamplingStatisticSummary> {
        let mut summaries: Vec<_> = self.rules.values().filter_map(|traffic| traffic.summary.clone()).collect();
        summaries.sort_by(|a, b| a.rule_name.cmp(&b.rule_name));
        summaries
    }

    fn forget_silent_clients(&mut self, now: f64) {
        for traffic in self.rules.values_mut() {
            traffic.clients.retain(|_, client| now - client.last_seen < CLIENT_EXPIRY_SECONDS);
        }
    }

    #[cfg(test)]
    fn client_count(&self, rule_name: &str) -> usize {
        self.rules.get(rule_name).map_or(0, |traffic| traffic.clients.len())
    }
}

impl RuleTraffic {
    fn add_to_summary(&mut self, report: &SamplingStatisticsDocument, now: f64) {
        let window_start = (now / SUMMARY_WINDOW_SECONDS).floor() * SUMMARY_WINDOW_SECONDS;
        let summary = match &mut self.summary {
            Some(summary) if summary.timestamp == window_start => summary,
            slot => slot.insert(SamplingStatisticSummary {
                rule_name: report.rule_name.clone(),
                timestamp: window_start,
                request_count: 0,
                borrow_count: 0,
                sampled_count: 0,
            }),
        };
        summary.request_count += report.request_count.max(0) as u64;
        summary.sampled_count += report.sampled_count.max(0) as u64;
        summary.borrow_count += report.borrow_count.max(0) as u64;
    }

    /// A newcomer's fair share: what an average active client claims (at least 1).
    fn mean_active_weight(&self, now: f64) -> f64 {
        let weights: Vec<f64> = self.active_clients(now).map(|(_, client)| client.weight).collect();
        if weights.is_empty() {
            return 1.0;
        }
        (weights.iter().sum::<f64>() / weights.len() as f64).max(1.0)
    }

    fn make_room_for(&mut self, client_id: &str) {
        if self.clients.len() < MAX_CLIENTS_PER_RULE || self.clients.contains_key(client_id) {
            return;
        }
        let oldest = self.clients.iter().min_by(|a, b| a.1.last_seen.total_cmp(&b.1.last_seen));
        if let Some(oldest) = oldest.map(|(id, _)| id.clone()) {
            self.clients.remove(&oldest);
        }
    }

    fn active_clients(&self, now: f64) -> impl Iterator<Item = (&String, &Client)> {
        self.clients.iter().filter(move |(_, client)| now - client.last_seen < ACTIVE_CLIENT_SECONDS)
    }

    fn quota_of(&self, client_id: &str, reservoir_size: u64, now: f64) -> u64 {
        let mut claims: Vec<(&str, f64)> =
            self.active_clients(now).map(|(id, client)| (id.as_str(), client.weight)).collect();
        claims.sort_by(|a, b| a.0.cmp(b.0));
        let quotas = divide_reservoir(reservoir_size, &claims);
        claims.iter().zip(quotas).find(|((id, _), _)| *id == client_id).map_or(0, |(_, quota)| quota)
    }
}

/// Splits `reservoir_size` into whole quotas proportional to the weights, summing exactly to
/// `reservoir_size` (largest remainder; ties go to the earlier claim, so callers pass claims in
/// a stable order). All-zero weights split evenly.
pub(crate) fn divide_reservoir(reservoir_size: u64, claims: &[(&str, f64)]) -> Vec<u64> {
    if claims.is_empty() {
        return Vec::new();
    }
    let total_weight: f64 = claims.iter().map(|(_, weight)| weight.max(0.0)).sum();
    let exact: Vec<f64> = claims
        .iter()
        .map(|(_, weight)| match total_weight > 0.0 {
            true => reservoir_size as f64 * weight.max(0.0) / total_weight,
            false => reservoir_size as f64 / claims.len() as f64,
        })
        .collect();
    let mut quotas: Vec<u64> = exact.iter().map(|share| share.floor() as u64).collect();
    let handed_out: u64 = quotas.iter().sum();
    let mut by_remainder: Vec<usize> = (0..claims.len()).collect();
    by_remainder.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for &index in by_remainder.iter().take(reservoir_size.saturating_sub(handed_out) as usize) {
        quotas[index] += 1;
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rule: &str, client: &str, requests: i64) -> SamplingStatisticsDocument {
        SamplingStatisticsDocument {
            rule_name: rule.into(),
            client_id: client.into(),
            timestamp: 0.0,
            request_count: requests,
            sampled_count: 1,
            borrow_count: 0,
        }
    }

    #[test]
    fn reservoir_is_divided_in_proportion_and_sums_exactly() {
        assert_eq!(divide_reservoir(10, &[("a", 30.0), ("b", 10.0)]), vec![8, 2]);
        assert_eq!(divide_reservoir(10, &[("a", 1.0), ("b", 1.0), ("c", 1.0)]), vec![4, 3, 3]);
        assert_eq!(divide_reservoir(1, &[("a", 5.0), ("b", 6.0)]), vec![0, 1]);
        assert_eq!(divide_reservoir(4, &[("a", 0.0), ("b", 0.0)]), vec![2, 2]);
        assert_eq!(divide_reservoir(0, &[("a", 7.0)]), vec![0]);
        assert_eq!(divide_reservoir(100, &[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]).iter().sum::<u64>(), 100);
    }

    #[test]
    fn busier_client_gets_the_bigger_share_and_a_newcomer_a_fair_one() {
        let mut traffic = Traffic::default();
        assert_eq!(traffic.record(&report("r", "a", 90), 10, 100.0), 10, "alone, a takes it all");
        // b is new: it claims the average active weight (90), so half, not 10/100.
        assert_eq!(traffic.record(&report("r", "b", 10), 10, 101.0), 5);
        // From its second report on, b claims what it reports.
        assert_eq!(traffic.record(&report("r", "b", 10), 10, 111.0), 1);
        assert_eq!(traffic.record(&report("r", "a", 90), 10, 112.0), 9);
    }

    #[test]
    fn silent_clients_lose_their_share_then_are_forgotten() {
        let mut traffic = Traffic::default();
        traffic.record(&report("r", "a", 50), 10, 100.0);
        traffic.record(&report("r", "b", 50), 10, 100.0);
        // a has been silent for 20 s: inactive, b gets everything.
        assert_eq!(traffic.record(&report("r", "b", 50), 10, 120.0), 10);
        assert_eq!(traffic.client_count("r"), 2);
        traffic.record(&report("r", "b", 50), 10, 131.0);
        assert_eq!(traffic.client_count("r"), 1);
    }

    #[test]
    fn client_table_is_capped_per_rule() {
        let mut traffic = Traffic::default();
        for i in 0..MAX_CLIENTS_PER_RULE + 5 {
            traffic.record(&report("r", &format!("{i:024x}"), 1), 1, 100.0 + i as f64 * 0.001);
        }
        assert_eq!(traffic.client_count("r"), MAX_CLIENTS_PER_RULE);
    }

    #[test]
    fn summaries_add_up_reports_per_ten_second_window() {
        let mut traffic = Traffic::default();
        traffic.record(&report("r", "a", 5), 1, 101.0);
        traffic.record(&report("r", "b", 7), 1, 109.0);
        let summary = &traffic.summaries()[0];
        assert_eq!((summary.timestamp, summary.request_count, summary.sampled_count), (100.0, 12, 2));
        traffic.record(&report("r", "a", 1), 1, 110.0);
        assert_eq!(traffic.summaries()[0].request_count, 1);
    }
}
