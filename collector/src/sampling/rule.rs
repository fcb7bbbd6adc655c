//! The sampling rule as the X-Ray API shapes it (`SamplingRule`, `SamplingRuleRecord`,
//! `SamplingRuleUpdate`), its validation, and the reserved `Default` rule.
//!
//! Limits follow the botocore model (spec Appendix A, CreateSamplingRule / UpdateSamplingRule).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SamplingError;

/// Name of the catch-all rule that always exists and is matched last.
pub(crate) const DEFAULT_RULE_NAME: &str = "Default";
/// The `Default` rule's priority: below every user rule (user priorities are 1..=9999).
const DEFAULT_RULE_PRIORITY: i64 = 10_000;
const DEFAULT_RULE_RESERVOIR_SIZE: i64 = 1;
const DEFAULT_RULE_FIXED_RATE: f64 = 0.05;
const MAX_ATTRIBUTES: usize = 5;

/// One sampling rule, exactly as `CreateSamplingRule` takes it and `GetSamplingRules` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingRule {
    #[serde(rename = "RuleName", default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(rename = "RuleARN", default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "Priority")]
    pub priority: i64,
    #[serde(rename = "FixedRate")]
    pub fixed_rate: f64,
    /// Sampled requests per second, shared by every client that applies the rule.
    #[serde(rename = "ReservoirSize")]
    pub reservoir_size: i64,
    #[serde(rename = "ServiceName")]
    pub service_name: String,
    #[serde(rename = "ServiceType")]
    pub service_type: String,
    #[serde(rename = "Host")]
    pub host: String,
    #[serde(rename = "HTTPMethod")]
    pub http_method: String,
    #[serde(rename = "URLPath")]
    pub url_path: String,
    #[serde(rename = "Version")]
    pub version: i64,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(rename = "SamplingRateBoost", default, skip_serializing_if = "Option::is_none")]
    pub sampling_rate_boost: Option<SamplingRateBoost>,
}

/// Stored but not acted on: Fluoro does not boost rates on anomalies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingRateBoost {
    #[serde(rename = "MaxRate")]
    pub max_rate: f64,
    #[serde(rename = "CooldownWindowMinutes")]
    pub cooldown_window_minutes: i64,
}

/// A stored rule with its creation and last modification times (epoch seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingRuleRecord {
    #[serde(rename = "SamplingRule")]
    pub sampling_rule: SamplingRule,
    #[serde(rename = "CreatedAt")]
    pub created_at: f64,
    #[serde(rename = "ModifiedAt")]
    pub modified_at: f64,
}

/// A partial update, selecting the rule by `RuleName` or `RuleARN`; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplingRuleUpdate {
    #[serde(rename = "RuleName", default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(rename = "RuleARN", default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    #[serde(rename = "ResourceARN", default, skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    #[serde(rename = "Priority", default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(rename = "FixedRate", default, skip_serializing_if = "Option::is_none")]
    pub fixed_rate: Option<f64>,
    #[serde(rename = "ReservoirSize", default, skip_serializing_if = "Option::is_none")]
    pub reservoir_size: Option<i64>,
    #[serde(rename = "Host", default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(rename = "ServiceName", default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(rename = "ServiceType", default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(rename = "HTTPMethod", default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(rename = "URLPath", default, skip_serializing_if = "Option::is_none")]
    pub url_path: Option<String>,
    #[serde(rename = "Attributes", default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(rename = "SamplingRateBoost", default, skip_serializing_if = "Option::is_none")]
    pub sampling_rate_boost: Option<SamplingRateBoost>,
}

impl SamplingRule {
    /// The rule's name; stored rules always have one.
    pub fn name(&self) -> &str {
        self.rule_name.as_deref().unwrap_or_default()
    }

    pub(crate) fn is_default(&self) -> bool {
        self.name() == DEFAULT_RULE_NAME
    }

    pub(crate) fn default_rule() -> SamplingRule {
        SamplingRule {
            rule_name: Some(DEFAULT_RULE_NAME.to_owned()),
            rule_arn: Some(rule_arn(DEFAULT_RULE_NAME)),
            resource_arn: "*".to_owned(),
            priority: DEFAULT_RULE_PRIORITY,
            fixed_rate: DEFAULT_RULE_FIXED_RATE,
            reservoir_size: DEFAULT_RULE_RESERVOIR_SIZE,
            service_name: "*".to_owned(),
            service_type: "*".to_owned(),
            host: "*".to_owned(),
            http_method: "*".to_owned(),
            url_path: "*".to_owned(),
            version: 1,
            attributes: BTreeMap::new(),
            sampling_rate_boost: None,
        }
    }
}

pub(crate) fn rule_arn(rule_name: &str) -> String {
    fluoro_proto::xray_arn(&format!("sampling-rule/{rule_name}"))
}

/// Checks a rule a user creates (or a user rule after an update) against the API's limits.
pub(crate) fn validate_rule(rule: &SamplingRule) -> Result<(), SamplingError> {
    let Some(name) = rule.rule_name.as_deref() else {
        return Err(invalid("RuleName is required"));
    };
    check_length("RuleName", name, 1, 32)?;
    if !(1..=9999).contains(&rule.priority) {
        return Err(invalid(format!("Priority must be between 1 and 9999, got {}", rule.priority)));
    }
    validate_rates(rule.fixed_rate, rule.reservoir_size)?;
    if rule.version != 1 {
        return Err(invalid(format!("Version must be 1, got {}", rule.version)));
    }
    check_length("ResourceARN", &rule.resource_arn, 0, 500)?;
    check_length("ServiceName", &rule.service_name, 0, 64)?;
    check_length("ServiceType", &rule.service_type, 0, 64)?;
    check_length("Host", &rule.host, 0, 64)?;
    check_length("HTTPMethod", &rule.http_method, 0, 10)?;
    check_length("URLPath", &rule.url_path, 0, 128)?;
    validate_attributes(&rule.attributes)?;
    if let Some(boost) = &rule.sampling_rate_boost {
        validate_boost(boost)?;
    }
    Ok(())
}

/// The only checks the `Default` rule needs: its other fields cannot change.
pub(crate) fn validate_rates(fixed_rate: f64, reservoir_size: i64) -> Result<(), SamplingError> {
    // `contains` is false for NaN, which JSON cannot carry anyway.
    if !(0.0..=1.0).contains(&fixed_rate) {
        return Err(invalid(format!("FixedRate must be between 0 and 1, got {fixed_rate}")));
    }
    if reservoir_size < 0 {
        return Err(invalid(format!("ReservoirSize must be 0 or more, got {reservoir_size}")));
    }
    Ok(())
}

fn validate_attributes(attributes: &BTreeMap<String, String>) -> Result<(), SamplingError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Attributes must have at most {MAX_ATTRIBUTES} entries, got {}",
            attributes.len()
        )));
    }
    for (key, value) in attributes {
        check_length("Attributes key", key, 1, 32)?;
        check_length(&format!("Attributes value of '{key}'"), value, 1, 32)?;
    }
    Ok(())
}

fn validate_boost(boost: &SamplingRateBoost) -> Result<(), SamplingError> {
    if !(0.0..=1.0).contains(&boost.max_rate) {
        return Err(invalid(format!("SamplingRateBoost.MaxRate must be between 0 and 1, got {}", boost.max_rate)));
    }
    if boost.cooldown_window_minutes < 0 {
        return Err(invalid(format!(
            "SamplingRateBoost.CooldownWindowMinutes must be 0 or more, got {}",
            boost.cooldown_window_minutes
        )));
    }
    Ok(())
}

fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), SamplingError> {
    let length = value.chars().count();
    if (min..=max).contains(&length) {
        return Ok(());
    }
    let expected = if min == 0 { format!("at most {max}") } else { format!("{min} to {max}") };
    Err(invalid(format!("{field} must be {expected} characters long, got {length}")))
}

/// Applies `update` to `rule`, enforcing the `Default` rule's protections and the limits.
pub(crate) fn apply_update(rule: &SamplingRule, update: &SamplingRuleUpdate) -> Result<SamplingRule, SamplingError> {
    if rule.is_default() {
        if let Some(field) = field_other_than_rates(update) {
            return Err(invalid(format!(
                "only FixedRate and ReservoirSize of the Default rule can be updated, got {field}"
            )));
        }
    }
    let mut updated = rule.clone();
    let replace = |target: &mut String, value: &Option<String>| {
        if let Some(value) = value {
            target.clone_from(value);
        }
    };
    replace(&mut updated.resource_arn, &update.resource_arn);
    replace(&mut updated.host, &update.host);
    replace(&mut updated.service_name, &update.service_name);
    replace(&mut updated.service_type, &update.service_type);
    replace(&mut updated.http_method, &update.http_method);
    replace(&mut updated.url_path, &update.url_path);
    updated.priority = update.priority.unwrap_or(rule.priority);
    updated.fixed_rate = update.fixed_rate.unwrap_or(rule.fixed_rate);
    updated.reservoir_size = update.reservoir_size.unwrap_or(rule.reservoir_size);
    if let Some(attributes) = &update.attributes {
        updated.attributes.clone_from(attributes);
    }
    if update.sampling_rate_boost.is_some() {
        updated.sampling_rate_boost.clone_from(&update.sampling_rate_boost);
    }
    if updated.is_default() {
        validate_rates(updated.fixed_rate, updated.reservoir_size)?;
    } else {
        validate_rule(&updated)?;
    }
    Ok(updated)
}

fn field_other_than_rates(update: &SamplingRuleUpdate) -> Option<&'static str> {
    let present = [
        ("ResourceARN", update.resource_arn.is_some()),
        ("Priority", update.priority.is_some()),
        ("Host", update.host.is_some()),
        ("ServiceName", update.service_name.is_some()),
        ("ServiceType", update.service_type.is_some()),
        ("HTTPMethod", update.http_method.is_some()),
        ("URLPath", update.url_path.is_some()),
        ("Attributes", update.attributes.is_some()),
        ("SamplingRateBoost", update.sampling_rate_boost.is_some()),
    ];
    present.into_iter().find(|(_, is_present)| *is_present).map(|(field, _)| field)
}

fn invalid(message: impl Into<String>) -> SamplingError {
    SamplingError::InvalidRequest(message.into())
}

#[cfg(test)]
pub(crate) fn example_rule(name: &str) -> SamplingRule {
    SamplingRule {
        rule_name: Some(name.to_owned()),
        priority: 100,
        reservoir_size: 2,
        fixed_rate: 0.1,
        ..SamplingRule::default_rule()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_of(rule: &SamplingRule) -> String {
        validate_rule(rule).expect_err("rule should be rejected").to_string()
    }

    #[test]
    fn validation_messages_name_the_field_and_the_limit() {
        let base = example_rule("checkout");
        assert!(validate_rule(&base).is_ok());
        let cases: Vec<(SamplingRule, &str)> = vec![
            (SamplingRule { rule_name: None, ..base.clone() }, "RuleName is required"),
            (
                SamplingRule { rule_name: Some(String::new()), ..base.clone() },
                "RuleName must be 1 to 32 characters long, got 0",
            ),
            (
                SamplingRule { rule_name: Some("x".repeat(33)), ..base.clone() },
                "RuleName must be 1 to 32 characters long, got 33",
            ),
            (SamplingRule { priority: 0, ..base.clone() }, "Priority must be between 1 and 9999, got 0"),
            (SamplingRule { priority: 10_000, ..base.clone() }, "Priority must be between 1 and 9999, got 10000"),
            (SamplingRule { fixed_rate: 1.5, ..base.clone() }, "FixedRate must be between 0 and 1, got 1.5"),
            (SamplingRule { fixed_rate: -0.1, ..base.clone() }, "FixedRate must be between 0 and 1, got -0.1"),
            (SamplingRule { reservoir_size: -1, ..base.clone() }, "ReservoirSize must be 0 or more, got -1"),
            (SamplingRule { version: 2, ..base.clone() }, "Version must be 1, got 2"),
            (
                SamplingRule { service_name: "s".repeat(65), ..base.clone() },
                "ServiceName must be at most 64 characters long, got 65",
            ),
            (
                SamplingRule { http_method: "PROPPATCHXX".into(), ..base.clone() },
                "HTTPMethod must be at most 10 characters long, got 11",
            ),
            (
                SamplingRule { url_path: "/".repeat(129), ..base.clone() },
                "URLPath must be at most 128 characters long, got 129",
            ),
            (
                SamplingRule { resource_arn: "a".repeat(501), ..base.clone() },
                "ResourceARN must be at most 500 characters long, got 501",
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(message_of(&rule), expected);
        }
    }

    #[test]
    fn attributes_are_limited_in_number_and_length() {
        let mut rule = example_rule("attrs");
        rule.attributes = (0..6).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(message_of(&rule), "Attributes must have at most 5 entries, got 6");
        rule.attributes = BTreeMap::from([("k".to_owned(), String::new())]);
        assert_eq!(message_of(&rule), "Attributes value of 'k' must be 1 to 32 characters long, got 0");
        rule.attributes = BTreeMap::from([("k".repeat(33), "v".to_owned())]);
        assert_eq!(message_of(&rule), "Attributes key must be 1 to 32 characters long, got 33");
    }

    #[test]
    fn default_rule_accepts_only_rate_and_reservoir_updates() {
        let default = SamplingRule::default_rule();
        let update = SamplingRuleUpdate { url_path: Some("/x".into()), ..Default::default() };
        assert_eq!(
            apply_update(&default, &update).expect_err("must refuse").to_string(),
            "only FixedRate and ReservoirSize of the Default rule can be updated, got URLPath"
        );
        let update = SamplingRuleUpdate { fixed_rate: Some(0.5), reservoir_size: Some(3), ..Default::default() };
        let updated = apply_update(&default, &update).expect("rates can change");
        assert_eq!((updated.fixed_rate, updated.reservoir_size, updated.priority), (0.5, 3, 10_000));
    }

    #[test]
    fn partial_update_keeps_absent_fields_and_validates_the_result() {
        let rule = example_rule("orders");
        let update = SamplingRuleUpdate { host: Some("api.*".into()), ..Default::default() };
        let updated = apply_update(&rule, &update).expect("valid update");
        assert_eq!(updated, SamplingRule { host: "api.*".into(), ..rule.clone() });
        let update = SamplingRuleUpdate { priority: Some(0), ..Default::default() };
        assert_eq!(
            apply_update(&rule, &update).expect_err("bad").to_string(),
            "Priority must be between 1 and 9999, got 0"
        );
    }

    #[test]
    fn wire_shape_uses_the_api_member_names() {
        let json = serde_json::to_value(SamplingRule::default_rule()).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "RuleName": "Default", "RuleARN": "arn:aws:xray:local:000000000000:sampling-rule/Default",
                "ResourceARN": "*", "Priority": 10000, "FixedRate": 0.05, "ReservoirSize": 1,
                "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*",
                "Version": 1, "Attributes": {}
            })
        );
    }
}
