//! Unit tests of the rule set: operations, protections, matching order and persistence.

use super::rule::example_rule;
use super::*;

fn report(rule: &str, client: &str, requests: i64) -> SamplingStatisticsDocument {
    SamplingStatisticsDocument {
        rule_name: rule.into(),
        client_id: client.into(),
        timestamp: 0.0,
        request_count: requests,
        sampled_count: 0,
        borrow_count: 0,
    }
}

const CLIENT_A: &str = "0123456789abcdef01234567";
const CLIENT_B: &str = "fedcba9876543210fedcba98";

#[test]
fn starts_with_only_the_default_rule() {
    let rules = SamplingRules::in_memory();
    let all = rules.rules();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].sampling_rule, SamplingRule::default_rule());
}

#[test]
fn create_assigns_the_arn_and_refuses_duplicates_and_the_default_name() {
    let rules = SamplingRules::in_memory();
    let record = rules.create_at(example_rule("orders"), 1_000.5).expect("valid rule");
    assert_eq!(record.sampling_rule.rule_arn.as_deref(), Some("arn:aws:xray:local:000000000000:sampling-rule/orders"));
    assert_eq!((record.created_at, record.modified_at), (1_000.5, 1_000.5));
    assert_eq!(
        rules.create(example_rule("orders")).expect_err("duplicate").to_string(),
        "a sampling rule named 'orders' already exists"
    );
    assert_eq!(
        rules.create(example_rule("Default")).expect_err("reserved").to_string(),
        "a sampling rule named 'Default' already exists"
    );
}

#[test]
fn rule_count_is_limited() {
    let rules = SamplingRules::in_memory();
    for i in 0..MAX_USER_RULES {
        rules.create(example_rule(&format!("rule-{i}"))).expect("under the limit");
    }
    let error = rules.create(example_rule("one-too-many")).expect_err("over the limit");
    assert!(matches!(error, SamplingError::RuleLimitExceeded));
    assert_eq!(error.to_string(), "cannot create more than 25 sampling rules besides Default");
}

#[test]
fn update_and_delete_find_rules_by_name_or_arn() {
    let rules = SamplingRules::in_memory();
    rules.create_at(example_rule("orders"), 1_000.0).expect("created");
    let arn = "arn:aws:xray:local:000000000000:sampling-rule/orders".to_owned();
    let update = SamplingRuleUpdate { rule_arn: Some(arn.clone()), fixed_rate: Some(0.5), ..Default::default() };
    let updated = rules.update_at(update, 2_000.0).expect("updated by ARN");
    assert_eq!((updated.sampling_rule.fixed_rate, updated.created_at, updated.modified_at), (0.5, 1_000.0, 2_000.0));

    let missing = SamplingRuleUpdate { rule_name: Some("nope".into()), ..Default::default() };
    let error = rules.update(missing).expect_err("unknown rule");
    assert!(matches!(error, SamplingError::RuleNotFound(_)));
    assert_eq!(error.to_string(), "no sampling rule named 'nope'");
    let error = rules.update(SamplingRuleUpdate::default()).expect_err("no selector");
    assert_eq!(error.to_string(), "RuleName or RuleARN is required");

    let deleted = rules.delete(None, Some(&arn)).expect("deleted by ARN");
    assert_eq!(deleted.sampling_rule.fixed_rate, 0.5);
    assert_eq!(rules.rules().len(), 1);
}

#[test]
fn default_rule_cannot_be_deleted_and_only_its_rates_change() {
    let rules = SamplingRules::in_memory();
    assert_eq!(
        rules.delete(Some("Default"), None).expect_err("protected").to_string(),
        "the Default rule cannot be deleted"
    );
    let priority = SamplingRuleUpdate { rule_name: Some("Default".into()), priority: Some(5), ..Default::default() };
    assert_eq!(
        rules.update(priority).expect_err("protected").to_string(),
        "only FixedRate and ReservoirSize of the Default rule can be updated, got Priority"
    );
    let rates = SamplingRuleUpdate {
        rule_name: Some("Default".into()),
        fixed_rate: Some(0.2),
        reservoir_size: Some(4),
        ..Default::default()
    };
    let updated = rules.update(rates).expect("rates are editable");
    assert_eq!((updated.sampling_rule.fixed_rate, updated.sampling_rule.reservoir_size), (0.2, 4));
}

#[test]
fn matching_follows_priority_then_name_and_falls_back_to_default() {
    let rules = SamplingRules::in_memory();
    let rule =
        |name: &str, priority: i64, path: &str| SamplingRule { priority, url_path: path.into(), ..example_rule(name) };
    rules.create(rule("health", 10, "/health*")).expect("created");
    rules.create(rule("b-api", 20, "/api/*")).expect("created");
    rules.create(rule("a-api", 20, "/api/*")).expect("created");
    rules.create(rule("orders", 15, "/api/orders*")).expect("created");
    let path = |path: &str| SamplingRequest { url_path: Some(path.into()), ..Default::default() };
    assert_eq!(rules.matching_rule(&path("/health")), "health");
    assert_eq!(rules.matching_rule(&path("/api/orders/1")), "orders");
    assert_eq!(rules.matching_rule(&path("/api/users")), "a-api", "same priority: by name");
    assert_eq!(rules.matching_rule(&path("/elsewhere")), "Default");
    // A request we know nothing about matches the first rule, as in the SDKs.
    assert_eq!(rules.matching_rule(&SamplingRequest::default()), "health");
}

#[test]
fn targets_divide_the_reservoir_and_flag_unknown_rules() {
    let rules = SamplingRules::in_memory();
    // Later than the real clock that stamped the Default rule, so this is the latest change.
    let created = 4_000_000_000.2;
    rules.create_at(SamplingRule { reservoir_size: 10, ..example_rule("orders") }, created).expect("created");
    let answer = rules.targets_at(&[report("orders", CLIENT_A, 30)], 2_000.0).expect("valid");
    assert_eq!(answer.sampling_target_documents[0].reservoir_quota, 10);
    let answer =
        rules.targets_at(&[report("orders", CLIENT_B, 30), report("ghost", CLIENT_B, 1)], 2_001.0).expect("valid");
    let target = &answer.sampling_target_documents[0];
    assert_eq!(
        (target.reservoir_quota, target.fixed_rate, target.reservoir_quota_ttl, target.interval),
        (5, 0.1, 2_016.0, 10)
    );
    assert_eq!(answer.last_rule_modification, 4_000_000_001.0, "rounded up to the next whole second");
    assert_eq!(answer.unprocessed_statistics[0].rule_name, "ghost");
    assert_eq!(answer.unprocessed_statistics[0].error_code, "404");
    let summary = &rules.statistic_summaries()[0];
    assert_eq!((summary.rule_name.as_str(), summary.request_count), ("orders", 60));
}

#[test]
fn malformed_reports_are_refused() {
    let rules = SamplingRules::in_memory();
    let error = rules.targets(&[report("Default", "not-hex", 1)]).expect_err("bad client id");
    assert_eq!(error.to_string(), "ClientID must be 24 hexadecimal characters, got 'not-hex'");
    let error = rules.targets(&[report("Default", CLIENT_A, -1)]).expect_err("negative");
    assert_eq!(error.to_string(), "RequestCount must be 0 or more, got -1 for rule 'Default'");
    let many: Vec<_> = (0..26).map(|_| report("Default", CLIENT_A, 1)).collect();
    let error = rules.targets(&many).expect_err("too many");
    assert_eq!(error.to_string(), "SamplingStatisticsDocuments must have at most 25 entries, got 26");
}

#[test]
fn rules_survive_a_restart() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("sampling-rules.json");
    let rules = SamplingRules::open(&path).expect("created with Default");
    assert!(path.exists());
    rules.create(example_rule("orders")).expect("created");
    rules.create(example_rule("gone")).expect("created");
    rules.delete(Some("gone"), None).expect("deleted");
    let update = SamplingRuleUpdate { rule_name: Some("Default".into()), fixed_rate: Some(0.25), ..Default::default() };
    rules.update(update).expect("updated");
    let before = rules.rules();
    let last_modification = rules.last_rule_modification();
    drop(rules);

    let reopened = SamplingRules::open(&path).expect("reopened");
    assert_eq!(reopened.rules(), before);
    assert_eq!(reopened.last_rule_modification(), last_modification);
    let names: Vec<_> = before.iter().map(|record| record.sampling_rule.name().to_owned()).collect();
    assert_eq!(names, ["orders", "Default"]);
    let leftovers: Vec<_> = fs::read_dir(directory.path()).expect("listable").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn a_corrupt_or_unknown_version_file_is_refused_with_its_path() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("rules.json");
    fs::write(&path, r#"{"version": 2, "last_rule_modification": 0, "rules": []}"#).expect("written");
    let error = SamplingRules::open(&path).expect_err("future version");
    assert_eq!(
        error.to_string(),
        format!("sampling rules file {} is not valid: expected version 1, got 2", path.display())
    );
    fs::write(&path, "not json").expect("written");
    assert!(matches!(SamplingRules::open(&path), Err(SamplingError::InvalidFile { .. })));
}

#[test]
fn a_file_without_default_gets_it_back() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("rules.json");
    fs::write(&path, r#"{"version": 1, "last_rule_modification": 5, "rules": []}"#).expect("written");
    let rules = SamplingRules::open(&path).expect("repaired");
    assert_eq!(rules.rules()[0].sampling_rule.name(), "Default");
}
