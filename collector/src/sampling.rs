//! Centralized sampling: the rule set X-Ray SDKs poll, and the endpoints they poll it through.
//!
//! SDKs ask the daemon's TCP port (spec 2.3) for `POST /GetSamplingRules` every 5 minutes and
//! report to `POST /SamplingTargets` every 10 s; [`sampling_router`] answers both (plus
//! Create/Update/DeleteSamplingRule and SamplingStatisticSummaries) in the X-Ray REST-JSON shapes,
//! on the daemon port and on the main API port alike.
//!
//! **Matching** ([`SamplingRules::matching_rule`], the SDKs' algorithm): rules sorted by
//! `Priority` then `RuleName`; the first whose `ServiceName`, `ServiceType`, `Host`, `HTTPMethod`,
//! `URLPath` and `ResourceARN` patterns all match (case-insensitive glob, `*` any run, `?` any one
//! character; a request field that is unknown matches anything) and whose `Attributes` are all
//! present on the request with matching values wins; `Default` catches the rest.
//!
//! **Quota division** (`targets.rs`): a rule's `ReservoirSize` is per second for all clients
//! together. On each report, the clients that reported for the rule within the last 15 s share it
//! in proportion to the `RequestCount` of their last report; a client reporting for the first time
//! claims at least the average of the others, so a newcomer is not starved by its first, partial
//! interval. Whole quotas are handed out by largest remainder, so they add up to `ReservoirSize`.
//! Quotas are valid 15 s (`ReservoirQuotaTTL`), a little more than the 10 s `Interval`. Clients
//! silent for 30 s are forgotten, and a rule tracks at most 1000 clients.
//!
//! `LastRuleModification` is the latest change rounded *up* to a whole second: SDKs keep the
//! time of their last fetch as whole seconds and refetch only when the modification is newer, so
//! a change in the same second as a fetch would otherwise go unnoticed.
//!
//! **Persistence** ([`SamplingRules::open`]):
//! - one JSON file, rewritten whole on every change: written to `<file>.tmp`, synced, then
//!   renamed over the file, so a crash leaves either the old or the new rule set;
//! - records use the API's own `SamplingRuleRecord` shape, so the file reads like a
//!   `GetSamplingRules` answer and can be edited by hand (it is validated on load);
//! - traffic statistics and quotas are not persisted.
//!
//! ```text
//! version 1
//! {
//!   "version": 1,
//!   "last_rule_modification": 1700000000.25,
//!   "rules": [ { "SamplingRule": { "RuleName": "Default", ... }, "CreatedAt": 1.7e9, "ModifiedAt": 1.7e9 } ]
//! }
//! ```

mod http;
mod matching;
mod rule;
mod targets;
mod timestamp;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use http::sampling_router;
pub use matching::SamplingRequest;
pub use rule::{SamplingRateBoost, SamplingRule, SamplingRuleRecord, SamplingRuleUpdate};
pub use targets::{
    SamplingStatisticSummary, SamplingStatisticsDocument, SamplingTargetDocument, SamplingTargets,
    UnprocessedStatistics,
};

use rule::{apply_update, rule_arn, validate_rule, DEFAULT_RULE_NAME};
use targets::{Traffic, MAX_STATISTICS_DOCUMENTS, QUOTA_TTL_SECONDS, TARGET_INTERVAL_SECONDS};
use timestamp::now_epoch_seconds;

use fluoro_proto::replace_durably;

/// X-Ray's limit on user rules (the `Default` rule does not count).
const MAX_USER_RULES: usize = 25;
const FILE_FORMAT_VERSION: u32 = 1;

/// What sampling operations refuse; `http.rs` maps each to its X-Ray error and status.
#[derive(Debug, Error)]
pub enum SamplingError {
    /// `InvalidRequestException`, 400.
    #[error("{0}")]
    InvalidRequest(String),
    /// `ResourceNotFoundException`, 404.
    #[error("no sampling rule named '{0}'")]
    RuleNotFound(String),
    /// `RuleLimitExceededException`, 400.
    #[error("cannot create more than {MAX_USER_RULES} sampling rules besides Default")]
    RuleLimitExceeded,
    #[error("cannot read sampling rules from {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("sampling rules file {path} is not valid: {reason}")]
    InvalidFile { path: PathBuf, reason: String },
    #[error("cannot save sampling rules to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The rule set, optionally persisted, with the traffic state of every client that uses it.
#[derive(Debug)]
pub struct SamplingRules {
    file: Option<PathBuf>,
    rules: Mutex<RuleSet>,
    traffic: Mutex<Traffic>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: u32,
    last_rule_modification: f64,
    rules: Vec<SamplingRuleRecord>,
}

#[derive(Debug, Clone)]
struct RuleSet {
    by_name: BTreeMap<String, SamplingRuleRecord>,
    last_modification: f64,
}

impl RuleSet {
    fn with_default_rule(now: f64) -> RuleSet {
        let default =
            SamplingRuleRecord { sampling_rule: SamplingRule::default_rule(), created_at: now, modified_at: now };
        RuleSet { by_name: BTreeMap::from([(DEFAULT_RULE_NAME.to_owned(), default)]), last_modification: now }
    }

    /// The name of the rule `rule_name` or `rule_arn` designates.
    fn resolve(&self, rule_name: Option<&str>, rule_arn: Option<&str>) -> Result<String, SamplingError> {
        let by_arn = |arn: &str| {
            self.by_name
                .values()
                .find(|record| record.sampling_rule.rule_arn.as_deref() == Some(arn))
                .map(|record| record.sampling_rule.name().to_owned())
        };
        match (rule_name, rule_arn) {
            (Some(name), arn) => {
                if !self.by_name.contains_key(name) {
                    return Err(SamplingError::RuleNotFound(name.to_owned()));
                }
                match arn {
                    Some(arn) if by_arn(arn).as_deref() != Some(name) => Err(SamplingError::InvalidRequest(format!(
                        "RuleName '{name}' and RuleARN '{arn}' designate different rules"
                    ))),
                    _ => Ok(name.to_owned()),
                }
            }
            (None, Some(arn)) => by_arn(arn).ok_or_else(|| SamplingError::RuleNotFound(arn.to_owned())),
            (None, None) => Err(SamplingError::InvalidRequest("RuleName or RuleARN is required".to_owned())),
        }
    }

    fn sorted(&self) -> Vec<&SamplingRuleRecord> {
        let mut records: Vec<_> = self.by_name.values().collect();
        records.sort_by(|a, b| {
            (a.sampling_rule.priority, a.sampling_rule.name()).cmp(&(b.sampling_rule.priority, b.sampling_rule.name()))
        });
        records
    }
}

impl SamplingRules {
    /// Rules kept only in memory, starting with just `Default`.
    pub fn in_memory() -> SamplingRules {
        SamplingRules::new(None, RuleSet::with_default_rule(now_epoch_seconds()))
    }

    /// Rules persisted in `path`, which is created with just `Default` when absent.
    pub fn open(path: &Path) -> Result<SamplingRules, SamplingError> {
        let rule_set = match fs::read(path) {
            Ok(bytes) => load(path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let rule_set = RuleSet::with_default_rule(now_epoch_seconds());
                save(path, &rule_set)?;
                rule_set
            }
            Err(source) => return Err(SamplingError::Read { path: path.to_owned(), source }),
        };
        Ok(SamplingRules::new(Some(path.to_owned()), rule_set))
    }

    fn new(file: Option<PathBuf>, rule_set: RuleSet) -> SamplingRules {
        SamplingRules { file, rules: Mutex::new(rule_set), traffic: Mutex::new(Traffic::default()) }
    }

    /// Every rule, in matching order (priority, then name).
    pub fn rules(&self) -> Vec<SamplingRuleRecord> {
        self.rules.lock().sorted().into_iter().cloned().collect()
    }

    /// Epoch seconds of the latest rule change, rounded up to a whole second (see module doc).
    pub fn last_rule_modification(&self) -> f64 {
        self.rules.lock().last_modification.ceil()
    }

    /// The name of the rule that decides for `request`: the SDKs' algorithm (module doc).
    pub fn matching_rule(&self, request: &SamplingRequest) -> String {
        let rules = self.rules.lock();
        rules
            .sorted()
            .into_iter()
            .map(|record| &record.sampling_rule)
            .find(|rule| !rule.is_default() && matching::rule_matches(rule, request))
            .map_or_else(|| DEFAULT_RULE_NAME.to_owned(), |rule| rule.name().to_owned())
    }

    pub fn create(&self, rule: SamplingRule) -> Result<SamplingRuleRecord, SamplingError> {
        self.create_at(rule, now_epoch_seconds())
    }

    fn create_at(&self, mut rule: SamplingRule, now: f64) -> Result<SamplingRuleRecord, SamplingError> {
        validate_rule(&rule)?;
        let name = rule.name().to_owned();
        self.change(now, |rule_set| {
            if rule_set.by_name.contains_key(&name) {
                return Err(SamplingError::InvalidRequest(format!("a sampling rule named '{name}' already exists")));
            }
            if rule_set.by_name.len() > MAX_USER_RULES {
                return Err(SamplingError::RuleLimitExceeded);
            }
            // The ARN is ours to assign: one sent by the client would not match our placeholders.
            rule.rule_arn = Some(rule_arn(&name));
            let record = SamplingRuleRecord { sampling_rule: rule, created_at: now, modified_at: now };
            rule_set.by_name.insert(name, record.clone());
            Ok(record)
        })
    }

    pub fn update(&self, update: SamplingRuleUpdate) -> Result<SamplingRuleRecord, SamplingError> {
        self.update_at(update, now_epoch_seconds())
    }

    fn update_at(&self, update: SamplingRuleUpdate, now: f64) -> Result<SamplingRuleRecord, SamplingError> {
        self.change(now, |rule_set| {
            let name = rule_set.resolve(update.rule_name.as_deref(), update.rule_arn.as_deref())?;
            let Some(record) = rule_set.by_name.get_mut(&name) else {
                return Err(SamplingError::RuleNotFound(name));
            };
            record.sampling_rule = apply_update(&record.sampling_rule, &update)?;
            record.modified_at = now;
            Ok(record.clone())
        })
    }

    /// Deletes the rule `rule_name` or `rule_arn` designates and returns it as it was.
    pub fn delete(&self, rule_name: Option<&str>, rule_arn: Option<&str>) -> Result<SamplingRuleRecord, SamplingError> {
        let deleted = self.change(now_epoch_seconds(), |rule_set| {
            let name = rule_set.resolve(rule_name, rule_arn)?;
            if name == DEFAULT_RULE_NAME {
                return Err(SamplingError::InvalidRequest("the Default rule cannot be deleted".to_owned()));
            }
            rule_set.by_name.remove(&name).ok_or(SamplingError::RuleNotFound(name))
        })?;
        self.traffic.lock().forget_rule(deleted.sampling_rule.name());
        Ok(deleted)
    }

    /// Applies `edit` to a copy of the rules, saves the copy, and only then makes it current, so
    /// that a failed save changes nothing.
    fn change<T>(
        &self,
        now: f64,
        edit: impl FnOnce(&mut RuleSet) -> Result<T, SamplingError>,
    ) -> Result<T, SamplingError> {
        let mut rules = self.rules.lock();
        let mut edited = rules.clone();
        let outcome = edit(&mut edited)?;
        edited.last_modification = now.max(rules.last_modification);
        if let Some(path) = &self.file {
            save(path, &edited)?;
        }
        *rules = edited;
        Ok(outcome)
    }

    /// Records client reports and hands out quotas (`GetSamplingTargets`).
    pub fn targets(&self, reports: &[SamplingStatisticsDocument]) -> Result<SamplingTargets, SamplingError> {
        self.targets_at(reports, now_epoch_seconds())
    }

    fn targets_at(&self, reports: &[SamplingStatisticsDocument], now: f64) -> Result<SamplingTargets, SamplingError> {
        validate_reports(reports)?;
        let (current, last_rule_modification) = {
            let rules = self.rules.lock();
            let current: BTreeMap<String, (f64, u64)> = rules
                .by_name
                .iter()
                .map(|(name, record)| {
                    let rule = &record.sampling_rule;
                    (name.clone(), (rule.fixed_rate, rule.reservoir_size.max(0) as u64))
                })
                .collect();
            (current, rules.last_modification.ceil())
        };
        let mut traffic = self.traffic.lock();
        let mut targets = SamplingTargets {
            sampling_target_documents: Vec::new(),
            last_rule_modification,
            unprocessed_statistics: Vec::new(),
        };
        for report in reports {
            let Some(&(fixed_rate, reservoir_size)) = current.get(&report.rule_name) else {
                targets.unprocessed_statistics.push(UnprocessedStatistics {
                    rule_name: report.rule_name.clone(),
                    error_code: "404".to_owned(),
                    message: format!("no sampling rule named '{}'", report.rule_name),
                });
                continue;
            };
            targets.sampling_target_documents.push(SamplingTargetDocument {
                rule_name: report.rule_name.clone(),
                fixed_rate,
                reservoir_quota: traffic.record(report, reservoir_size, now),
                reservoir_quota_ttl: (now + QUOTA_TTL_SECONDS).floor(),
                interval: TARGET_INTERVAL_SECONDS,
            });
        }
        Ok(targets)
    }

    /// Per-rule counts of the latest 10-second window in which clients reported.
    pub fn statistic_summaries(&self) -> Vec<SamplingStatisticSummary> {
        self.traffic.lock().summaries()
    }
}

fn validate_reports(reports: &[SamplingStatisticsDocument]) -> Result<(), SamplingError> {
    let invalid = |message: String| Err(SamplingError::InvalidRequest(message));
    if reports.len() > MAX_STATISTICS_DOCUMENTS {
        return invalid(format!(
            "SamplingStatisticsDocuments must have at most {MAX_STATISTICS_DOCUMENTS} entries, got {}",
            reports.len()
        ));
    }
    for report in reports {
        let client_id = &report.client_id;
        if client_id.len() != 24 || !client_id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return invalid(format!("ClientID must be 24 hexadecimal characters, got '{client_id}'"));
        }
        if report.rule_name.is_empty() || report.rule_name.chars().count() > 32 {
            return invalid(format!("RuleName must be 1 to 32 characters long, got '{}'", report.rule_name));
        }
        let counts = [
            ("RequestCount", report.request_count),
            ("SampledCount", report.sampled_count),
            ("BorrowCount", report.borrow_count),
        ];
        if let Some((field, count)) = counts.into_iter().find(|(_, count)| *count < 0) {
            return invalid(format!("{field} must be 0 or more, got {count} for rule '{}'", report.rule_name));
        }
    }
    Ok(())
}

fn load(path: &Path, bytes: &[u8]) -> Result<RuleSet, SamplingError> {
    let invalid = |reason: String| SamplingError::InvalidFile { path: path.to_owned(), reason };
    let file: RulesFile = serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
    if file.version != FILE_FORMAT_VERSION {
        return Err(invalid(format!("expected version {FILE_FORMAT_VERSION}, got {}", file.version)));
    }
    let mut rule_set = RuleSet { by_name: BTreeMap::new(), last_modification: file.last_rule_modification };
    for record in file.rules {
        let rule = &record.sampling_rule;
        if !rule.is_default() {
            validate_rule(rule).map_err(|error| invalid(format!("rule '{}': {error}", rule.name())))?;
        }
        if rule_set.by_name.insert(rule.name().to_owned(), record.clone()).is_some() {
            return Err(invalid(format!("rule '{}' appears twice", record.sampling_rule.name())));
        }
    }
    if !rule_set.by_name.contains_key(DEFAULT_RULE_NAME) {
        // Someone removed it by hand; the SDKs need a catch-all, so put the stock one back.
        tracing::warn!(path = %path.display(), "sampling rules file has no Default rule, restoring it");
        let restored = RuleSet::with_default_rule(now_epoch_seconds());
        rule_set.by_name.extend(restored.by_name);
    }
    Ok(rule_set)
}

fn save(path: &Path, rule_set: &RuleSet) -> Result<(), SamplingError> {
    let file = RulesFile {
        version: FILE_FORMAT_VERSION,
        last_rule_modification: rule_set.last_modification,
        rules: rule_set.sorted().into_iter().cloned().collect(),
    };
    let write_error = |source| SamplingError::Write { path: path.to_owned(), source };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|error| write_error(std::io::Error::other(error)))?;
    replace_durably(path, &bytes).map_err(write_error)
}

#[cfg(test)]
mod tests;
