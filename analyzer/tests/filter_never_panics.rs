//! The parser answers every input with a tree or an error pointing inside the text (or just
//! past it), never a panic or a stack overflow. `FLUORO_FUZZ_CASES` sets the cases per
//! property (default 256; the long run is in docs/operations.md).

use fluoro_analyzer::{parse_filter, FilterError, MAX_DEPTH};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "responsetime",
    "http.url",
    "annotation.a",
    "annotation[",
    "service(",
    "edge(",
    "id(",
    "name:",
    "type:",
    "rootcause.fault.entity",
    "rootcause.json",
    "group.name",
    "fault",
    "coverage",
    "AND",
    "or",
    "NOT",
    "!",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    "=",
    "!=",
    ">=",
    "<",
    "CONTAINS",
    "\"x\"",
    "\"",
    "\\",
    "5",
    "-0.5",
    "true",
    "#",
    "#[",
    "é",
    "@",
    " ",
    "\n",
];

fn check(text: &str) {
    match parse_filter(text) {
        Ok(expr) => assert_eq!(parse_filter(&expr.to_string()), Ok(expr), "{text:?}"),
        Err(error) => {
            let column = error.column();
            assert!((1..=text.chars().count() + 1).contains(&column), "{text:?}: {error} points outside the text");
        }
    }
}

/// Cases per property: `FLUORO_FUZZ_CASES`, else a budget small enough for every test run.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("FLUORO_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn token_soup_never_panics(fragments in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40), spaced: bool) {
        check(&fragments.join(if spaced { " " } else { "" }));
    }
}

#[test]
fn deep_nesting_is_refused_with_a_clear_error() {
    for opener in ["(", "!", "NOT ", "!("] {
        let text = format!("{}fault", opener.repeat(100_000));
        let error = parse_filter(&text).unwrap_err();
        assert!(matches!(error, FilterError::TooDeep { limit: MAX_DEPTH, .. }), "{opener}: {error}");
    }
}

#[test]
fn nesting_up_to_the_limit_parses() {
    let depth = MAX_DEPTH - 1;
    let text = format!("{}fault{}", "(".repeat(depth), ")".repeat(depth));
    assert!(parse_filter(&text).is_ok());
}
