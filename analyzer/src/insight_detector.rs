//! Insight detection: when a service's fault rate departs from its own recent baseline, and
//! which service causes it. Pure and deterministic: it sees only [`MinuteObservation`]s (built
//! from span timestamps, never the wall clock), so tests feed fixed timelines.
//!
//! The test, per service and closed minute `m` with `n` requests and `f` faults:
//!
//! - Baseline: the service's requests and faults over the previous [`DetectorConfig::baseline_minutes`]
//!   minutes, leaving out minutes that were themselves anomalous (an incident must not become
//!   its own baseline). Rate `p0 = (F + 1) / (N + 1)`: the +1 leans upwards, so a quiet
//!   baseline with no faults does not make a single fault significant.
//! - Anomalous when all hold: the baseline has at least `min_baseline_requests` requests;
//!   `f >= min_faults`; `f/n - p0 >= min_rate_increase` (an absolute rise, so tiny significant
//!   shifts on huge volumes do not page anyone); and the one-sided exact binomial test
//!   `P(X >= f | X ~ Binomial(n, p0)) < alpha`.
//! - Root cause: the faulted requests of an anomalous service are attributed to their traces'
//!   fault root causes ([`crate::RootCause`]: the deepest faulting service of each faulting
//!   chain); the service named most often is that anomalous service's root cause. Callers of a
//!   failing service fault too and are anomalous too, but their faults point at it, so one
//!   insight names it, and the callers are listed as `TopAnomalousServices`.
//! - Latency, the same way on response times: the baseline's p99 (from its
//!   [`LatencyBuckets`], upper bound) is by definition exceeded by at most 1 % of requests, so
//!   the `k` of `n` requests above it this minute are tested with `p0 = 0.01` (same minimum
//!   count, rise and `alpha`). Callers wait for their callees, so the root cause of a slow
//!   service is found by following slow callees down the minute's graph edges to the deepest
//!   slow service.
//! - Open: a root cause named in `open_after` consecutive minutes opens an insight starting at
//!   the first of them. Close: `close_after` consecutive minutes without it close the insight,
//!   ending at the first calm minute.
//! - A lasting shift becomes the new normal: anomalous minutes never enter the baseline, so
//!   after `baseline_minutes` of them the baseline is too small to test against, the insight
//!   closes, and the following minutes build a baseline at the new level.
//!
//! With the defaults (`alpha` 1e-4, 3 minutes to open) a steady service at 1–2 % faults raises
//! a single anomalous minute about once a day and three in a row practically never
//! (`insight_detector_tests.rs` runs a simulated noisy day).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::insight_latency::LatencyBuckets;

/// The share of requests above a p99: what the latency test expects without an anomaly.
const P99_EXCEEDANCE: f64 = 0.01;

/// What an insight is about: X-Ray's `Categories` (Fluoro adds `LATENCY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Category {
    Fault,
    Latency,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Fault => "FAULT",
            Category::Latency => "LATENCY",
        }
    }
}

/// A node of the service graph, as an insight names it: X-Ray's `ServiceId` without accounts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

impl ServiceKey {
    pub fn new(name: &str, r#type: Option<&str>) -> ServiceKey {
        ServiceKey { name: name.to_owned(), r#type: r#type.map(str::to_owned) }
    }
}

/// X-Ray's `RequestImpactStatistics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestImpact {
    pub fault_count: u64,
    pub ok_count: u64,
    pub total_count: u64,
}

impl RequestImpact {
    pub(crate) fn add(&mut self, other: RequestImpact) {
        self.fault_count += other.fault_count;
        self.ok_count += other.ok_count;
        self.total_count += other.total_count;
    }

    pub(crate) fn one(fault: bool) -> RequestImpact {
        RequestImpact { fault_count: u64::from(fault), ok_count: u64::from(!fault), total_count: 1 }
    }
}

/// One service's requests in one minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceMinute {
    pub requests: u64,
    pub faults: u64,
    /// Faulted traces through this service, by each fault root cause of the trace.
    pub faults_by_root_cause: BTreeMap<ServiceKey, u64>,
    /// The client requests (traces' entry points) of the traces through this service.
    pub clients: BTreeMap<ServiceKey, RequestImpact>,
    /// Response times of its requests.
    pub latency: LatencyBuckets,
    /// The nodes it called (the minute's graph edges from it).
    pub callees: BTreeSet<ServiceKey>,
}

/// Every service's requests in the minute starting at `minute` (Unix seconds, a multiple of 60).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinuteObservation {
    pub minute: i64,
    pub services: BTreeMap<ServiceKey, ServiceMinute>,
}

/// The test's knobs; [`DetectorConfig::default`] holds the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    pub baseline_minutes: usize,
    pub min_baseline_requests: u64,
    pub min_faults: u64,
    pub min_rate_increase: f64,
    pub alpha: f64,
    pub open_after: u32,
    pub close_after: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            baseline_minutes: 60,
            min_baseline_requests: 100,
            min_faults: 5,
            min_rate_increase: 0.05,
            alpha: 1e-4,
            open_after: 3,
            close_after: 3,
        }
    }
}

/// The impact measured over some minutes for one root cause.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    pub root_cause: RequestImpact,
    pub clients: Vec<(ServiceKey, RequestImpact)>,
    pub anomalous_services: BTreeSet<ServiceKey>,
    /// The root cause's highest per-minute fault rate and its baseline rate then.
    pub peak_fault_rate: f64,
    pub baseline_fault_rate: f64,
    /// Latency insights: the root cause's highest per-minute p99 and its baseline p99 then (s).
    #[serde(default)]
    pub peak_p99: f64,
    #[serde(default)]
    pub baseline_p99: f64,
}

impl Impact {
    pub fn client_total(&self) -> RequestImpact {
        let mut total = RequestImpact::default();
        for (_, impact) in &self.clients {
            total.add(*impact);
        }
        total
    }

    pub(crate) fn merge(&mut self, other: &Impact) {
        self.root_cause.add(other.root_cause);
        for (client, impact) in &other.clients {
            match self.clients.iter_mut().find(|(known, _)| known == client) {
                Some((_, known)) => known.add(*impact),
                None => self.clients.push((client.clone(), *impact)),
            }
        }
        self.anomalous_services.extend(other.anomalous_services.iter().cloned());
        if other.peak_fault_rate > self.peak_fault_rate {
            self.peak_fault_rate = other.peak_fault_rate;
            self.baseline_fault_rate = other.baseline_fault_rate;
        }
        if other.peak_p99 > self.peak_p99 {
            self.peak_p99 = other.peak_p99;
            self.baseline_p99 = other.baseline_p99;
        }
    }
}

/// What one evaluated minute changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    /// `open_after` anomalous minutes in a row, the first starting at `start`.
    Opened { root_cause: ServiceKey, category: Category, start: i64, at: i64, impact: Impact },
    /// One more anomalous minute of an open insight, with that minute's impact.
    Continued { root_cause: ServiceKey, category: Category, at: i64, impact: Impact },
    /// `close_after` calm minutes in a row; `end` is the first of them.
    Closed { root_cause: ServiceKey, category: Category, end: i64, at: i64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MinuteCount {
    minute: i64,
    requests: u64,
    faults: u64,
    anomalous: bool,
    #[serde(default)]
    latency: LatencyBuckets,
    #[serde(default)]
    slow: bool,
}

/// A root cause's run of anomalous (or, once open, calm) minutes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Track {
    start: i64,
    anomalous_minutes: u32,
    calm_minutes: u32,
    open: bool,
    impact: Impact,
}

/// The detector of one scope (a group): per-service baselines and per-root-cause runs.
/// Serializable, so `fluoro serve` keeps it across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    history: Vec<(ServiceKey, VecDeque<MinuteCount>)>,
    tracks: Vec<((ServiceKey, Category), Track)>,
    last_minute: Option<i64>,
}

/// Services whose baselines a scope keeps; the busiest are not preferred, the first seen are.
pub const MAX_TRACKED_SERVICES: usize = 1000;

impl Detector {
    /// The last minute evaluated, if any.
    pub fn last_minute(&self) -> Option<i64> {
        self.last_minute
    }

    /// Evaluates one closed minute. Minutes must come in order; an earlier or repeated minute
    /// is ignored (it was evaluated already), skipped minutes count as minutes without requests.
    pub fn observe(&mut self, observation: &MinuteObservation, config: &DetectorConfig) -> Vec<Detection> {
        let minute = observation.minute;
        let mut detections = Vec::new();
        if let Some(last) = self.last_minute {
            if minute <= last {
                return detections;
            }
            // The first skipped minutes, enough to close what is open; later ones change nothing more.
            let skipped = ((minute - last) / 60 - 1).min(i64::from(config.close_after));
            for index in 1..=skipped {
                let empty = MinuteObservation { minute: last + index * 60, services: BTreeMap::new() };
                detections.extend(self.evaluate(&empty, config));
            }
        }
        detections.extend(self.evaluate(observation, config));
        self.last_minute = Some(minute);
        detections
    }

    fn evaluate(&mut self, observation: &MinuteObservation, config: &DetectorConfig) -> Vec<Detection> {
        let minute = observation.minute;
        let mut by_cause: BTreeMap<(ServiceKey, Category), Impact> = BTreeMap::new();
        let mut anomalous = BTreeSet::new();
        for (service, counts) in &observation.services {
            let Some(baseline_rate) = self.anomalous_against_baseline(service, counts, minute, config) else {
                continue;
            };
            anomalous.insert(service.clone());
            let Some(root_cause) = main_root_cause(counts) else { continue };
            let impact = by_cause.entry((root_cause.clone(), Category::Fault)).or_default();
            impact.anomalous_services.insert(service.clone());
            if &root_cause == service {
                impact.peak_fault_rate = counts.faults as f64 / counts.requests.max(1) as f64;
                impact.baseline_fault_rate = baseline_rate;
            }
        }
        let slow: BTreeMap<&ServiceKey, (f64, f64)> = observation
            .services
            .iter()
            .filter_map(|(service, counts)| {
                Some((service, self.slow_against_baseline(service, counts, minute, config)?))
            })
            .collect();
        for service in slow.keys() {
            let root_cause = deepest_slow(service, &slow, observation);
            let impact = by_cause.entry((root_cause.clone(), Category::Latency)).or_default();
            impact.anomalous_services.insert((*service).clone());
            if let Some((baseline_p99, p99)) = slow.get(&root_cause) {
                (impact.peak_p99, impact.baseline_p99) = (*p99, *baseline_p99);
            }
        }
        for ((root_cause, _), impact) in &mut by_cause {
            if let Some(counts) = observation.services.get(root_cause) {
                impact.root_cause = RequestImpact {
                    fault_count: counts.faults,
                    ok_count: counts.requests.saturating_sub(counts.faults),
                    total_count: counts.requests,
                };
                impact.clients = counts.clients.iter().map(|(client, impact)| (client.clone(), *impact)).collect();
            }
        }
        let slow: BTreeSet<ServiceKey> = slow.into_keys().cloned().collect();
        self.record_history(observation, &anomalous, &slow, config);
        self.advance_tracks(minute, by_cause, config)
    }

    /// The baseline p99 and this minute's p99 (seconds) when this minute's requests exceed the
    /// baseline p99 significantly more often than 1 %, `None` otherwise.
    fn slow_against_baseline(
        &self,
        service: &ServiceKey,
        counts: &ServiceMinute,
        minute: i64,
        config: &DetectorConfig,
    ) -> Option<(f64, f64)> {
        let history = self.history.iter().find(|(known, _)| known == service).map(|(_, history)| history)?;
        let oldest = minute - config.baseline_minutes as i64 * 60;
        let mut baseline = LatencyBuckets::default();
        for count in history.iter().filter(|count| count.minute >= oldest && count.minute < minute && !count.slow) {
            baseline.merge(&count.latency);
        }
        if baseline.total() < config.min_baseline_requests {
            return None;
        }
        let p99_bucket = baseline.p99_bucket()?;
        let (requests, slower) = (counts.latency.total(), counts.latency.above(p99_bucket));
        if requests == 0 || slower < config.min_faults {
            return None;
        }
        let significant = slower as f64 / requests as f64 - P99_EXCEEDANCE >= config.min_rate_increase
            && binomial_upper_tail(requests, slower, P99_EXCEEDANCE) < config.alpha;
        let p99 = counts.latency.p99_bucket().map_or(0.0, LatencyBuckets::upper_bound);
        significant.then_some((LatencyBuckets::upper_bound(p99_bucket), p99))
    }

    /// The baseline rate when `counts` is anomalous against it, `None` otherwise.
    fn anomalous_against_baseline(
        &self,
        service: &ServiceKey,
        counts: &ServiceMinute,
        minute: i64,
        config: &DetectorConfig,
    ) -> Option<f64> {
        let history = self.history.iter().find(|(known, _)| known == service).map(|(_, history)| history)?;
        let oldest = minute - config.baseline_minutes as i64 * 60;
        let (requests, faults) = history
            .iter()
            .filter(|count| count.minute >= oldest && count.minute < minute && !count.anomalous)
            .fold((0u64, 0u64), |(requests, faults), count| (requests + count.requests, faults + count.faults));
        if requests < config.min_baseline_requests || counts.faults < config.min_faults || counts.requests == 0 {
            return None;
        }
        let baseline_rate = ((faults + 1) as f64 / (requests + 1) as f64).min(1.0);
        let rate = counts.faults as f64 / counts.requests as f64;
        let significant = rate - baseline_rate >= config.min_rate_increase
            && binomial_upper_tail(counts.requests, counts.faults, baseline_rate) < config.alpha;
        significant.then_some(baseline_rate)
    }

    fn record_history(
        &mut self,
        observation: &MinuteObservation,
        anomalous: &BTreeSet<ServiceKey>,
        slow: &BTreeSet<ServiceKey>,
        config: &DetectorConfig,
    ) {
        let oldest = observation.minute - config.baseline_minutes as i64 * 60;
        for (service, counts) in &observation.services {
            let count = MinuteCount {
                minute: observation.minute,
                requests: counts.requests,
                faults: counts.faults,
                anomalous: anomalous.contains(service),
                latency: counts.latency.clone(),
                slow: slow.contains(service),
            };
            match self.history.iter().position(|(known, _)| known == service) {
                Some(index) => self.history[index].1.push_back(count),
                None if self.history.len() < MAX_TRACKED_SERVICES => {
                    self.history.push((service.clone(), VecDeque::from([count])))
                }
                None => {}
            }
        }
        for (_, history) in &mut self.history {
            while history.front().is_some_and(|count| count.minute < oldest) {
                history.pop_front();
            }
        }
        self.history.retain(|(_, history)| !history.is_empty());
    }

    fn advance_tracks(
        &mut self,
        minute: i64,
        mut by_cause: BTreeMap<(ServiceKey, Category), Impact>,
        config: &DetectorConfig,
    ) -> Vec<Detection> {
        let mut detections = Vec::new();
        for (cause, track) in &mut self.tracks {
            match by_cause.remove(cause) {
                Some(impact) => detections.extend(track.anomalous(cause, minute, impact, config)),
                None => detections.extend(track.calm(cause, minute, config)),
            }
        }
        self.tracks.retain(|(_, track)| track.open || track.anomalous_minutes > 0);
        for (cause, impact) in by_cause {
            let mut track = Track { start: minute, ..Track::default() };
            detections.extend(track.anomalous(&cause, minute, impact, config));
            if self.tracks.len() < MAX_TRACKED_SERVICES {
                self.tracks.push((cause, track));
            }
        }
        detections
    }
}

impl Track {
    fn anomalous(
        &mut self,
        (root_cause, category): &(ServiceKey, Category),
        minute: i64,
        impact: Impact,
        config: &DetectorConfig,
    ) -> Option<Detection> {
        self.calm_minutes = 0;
        let (root_cause, category) = (root_cause.clone(), *category);
        if self.open {
            return Some(Detection::Continued { root_cause, category, at: minute, impact });
        }
        if self.anomalous_minutes == 0 {
            self.start = minute;
        }
        self.anomalous_minutes += 1;
        self.impact.merge(&impact);
        if self.anomalous_minutes < config.open_after {
            return None;
        }
        self.open = true;
        let impact = std::mem::take(&mut self.impact);
        Some(Detection::Opened { root_cause, category, start: self.start, at: minute, impact })
    }

    fn calm(
        &mut self,
        (root_cause, category): &(ServiceKey, Category),
        minute: i64,
        config: &DetectorConfig,
    ) -> Option<Detection> {
        if !self.open {
            // An interrupted run starts over.
            *self = Track::default();
            return None;
        }
        self.calm_minutes += 1;
        if self.calm_minutes < config.close_after {
            return None;
        }
        let end = minute - i64::from(config.close_after - 1) * 60;
        *self = Track::default();
        Some(Detection::Closed { root_cause: root_cause.clone(), category: *category, end, at: minute })
    }
}

/// The slow service reached from `service` by following slow callees as deep as they go.
fn deepest_slow(
    service: &ServiceKey,
    slow: &BTreeMap<&ServiceKey, (f64, f64)>,
    observation: &MinuteObservation,
) -> ServiceKey {
    let mut current = service.clone();
    let mut seen = BTreeSet::new();
    loop {
        seen.insert(current.clone());
        let next = observation.services.get(&current).and_then(|counts| {
            counts.callees.iter().find(|callee| slow.contains_key(callee) && !seen.contains(*callee))
        });
        match next {
            Some(callee) => current = callee.clone(),
            None => return current,
        }
    }
}

/// The fault root cause named most often for this service's faulted traces (ties: the first by name).
fn main_root_cause(counts: &ServiceMinute) -> Option<ServiceKey> {
    let mut best: Option<(&ServiceKey, u64)> = None;
    for (root_cause, &faults) in &counts.faults_by_root_cause {
        if best.is_none_or(|(_, most)| faults > most) {
            best = Some((root_cause, faults));
        }
    }
    best.map(|(root_cause, _)| root_cause.clone())
}

/// `P(X >= k)` for `X ~ Binomial(n, p)`: exact, summed in the tail from `k` up. Above the mean
/// the terms shrink geometrically, so the sum stops after a few dozen terms.
pub fn binomial_upper_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 || p >= 1.0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if (k as f64) <= n as f64 * p {
        // At or below the mean: never significant, and the sum would be long.
        return 1.0;
    }
    let log_choose: f64 = (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum();
    let log_first = log_choose + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln();
    if log_first < -700.0 {
        return 0.0;
    }
    let odds = p / (1.0 - p);
    let mut term = log_first.exp();
    let mut sum = term;
    for j in k..n {
        term *= (n - j) as f64 / (j + 1) as f64 * odds;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    sum.min(1.0)
}

#[cfg(test)]
#[path = "insight_detector_tests.rs"]
mod tests;
