//! Which rule applies to a request: the SDKs' algorithm, so that Fluoro's own decisions agree
//! with what an instrumented service would decide.

use std::collections::BTreeMap;

use super::rule::SamplingRule;

/// What a sampler knows about an incoming request. A field left `None` (or empty) matches any
/// pattern, as in the SDKs, where a missing request parameter is an implicit match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamplingRequest {
    pub service_name: Option<String>,
    /// The origin, e.g. `AWS::EC2::Instance`.
    pub service_type: Option<String>,
    pub host: Option<String>,
    pub http_method: Option<String>,
    pub url_path: Option<String>,
    pub resource_arn: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Whether `rule` applies to `request`: every match field globs, and every rule attribute is
/// present on the request with a matching value.
pub(crate) fn rule_matches(rule: &SamplingRule, request: &SamplingRequest) -> bool {
    let field_matches = |pattern: &str, value: &Option<String>| match value.as_deref() {
        None | Some("") => true,
        Some(value) => wildcard_match(pattern, value),
    };
    field_matches(&rule.service_name, &request.service_name)
        && field_matches(&rule.service_type, &request.service_type)
        && field_matches(&rule.host, &request.host)
        && field_matches(&rule.http_method, &request.http_method)
        && field_matches(&rule.url_path, &request.url_path)
        && field_matches(&rule.resource_arn, &request.resource_arn)
        && rule
            .attributes
            .iter()
            .all(|(key, pattern)| request.attributes.get(key).is_some_and(|value| wildcard_match(pattern, value)))
}

/// Case-insensitive glob: `*` is any run of characters, `?` any one character. A port of the
/// SDKs' `wildcard_match` (aws_xray_sdk/core/utils/search_pattern.py), including its greedy
/// backtracking, so both sides agree on every pattern.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    if pattern.is_empty() {
        return text.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| a == b || a.to_lowercase().eq(b.to_lowercase());
    let (mut i, mut p) = (0, 0);
    // Position in text and pattern just after the last `*`; `star_text == text.len()` means none.
    let (mut star_text, mut star_pattern) = (text.len(), 0);
    while i < text.len() {
        if p < pattern.len() && (same(text[i], pattern[p]) || pattern[p] == '?') {
            i += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star_text = i;
            star_pattern = p;
            p += 1;
        } else if star_text != text.len() {
            star_text += 1;
            i = star_text;
            p = star_pattern + 1;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The cases of aws-xray-sdk-python's tests/test_wildcard_match.py.
    #[test]
    fn glob_matches_like_the_sdk() {
        let cases = [
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "whatever", true),
            ("foo", "foo", true),
            ("foo", "bar", false),
            ("FOO", "foo", true),
            ("?", "a", true),
            ("?", "", false),
            ("?", "ab", false),
            ("??", "ab", true),
            ("a?c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a*c", "abbbbc", true),
            ("a*c", "abbbbd", false),
            ("*a*b*", "xaxxbx", true),
            ("/health*", "/health", true),
            ("/health*", "/healthz/deep", true),
            ("/health*", "/api/health", false),
            ("*.example.com", "api.example.com", true),
            ("*.example.com", "example.com", false),
            ("a*b*c", "aXbXbXc", true),
            ("GET", "get", true),
            ("Mississippi*ss?", "mississippissipi", false),
            ("*ss*ss*", "mississippi", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(wildcard_match(pattern, text), expected, "pattern {pattern:?} text {text:?}");
        }
    }

    #[test]
    fn missing_request_fields_match_and_attributes_must_all_match() {
        let mut rule =
            SamplingRule { url_path: "/api/*".into(), http_method: "POST".into(), ..SamplingRule::default_rule() };
        assert!(rule_matches(&rule, &SamplingRequest::default()));
        let post =
            SamplingRequest { http_method: Some("post".into()), url_path: Some("/api/x".into()), ..Default::default() };
        assert!(rule_matches(&rule, &post));
        let get = SamplingRequest { http_method: Some("GET".into()), ..post.clone() };
        assert!(!rule_matches(&rule, &get));

        rule.attributes = BTreeMap::from([("tier".into(), "gold*".into()), ("region".into(), "eu-?".into())]);
        assert!(!rule_matches(&rule, &post), "request lacks the attributes");
        let mut with_attributes = post.clone();
        with_attributes.attributes =
            BTreeMap::from([("tier".into(), "gold-plus".into()), ("region".into(), "eu-1".into())]);
        assert!(rule_matches(&rule, &with_attributes));
        with_attributes.attributes.insert("region".into(), "us-1".into());
        assert!(!rule_matches(&rule, &with_attributes));
    }
}
