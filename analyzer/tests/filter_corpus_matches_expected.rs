//! Runs `filter_corpus/parse.txt`: each `expr:` line is parsed, and its canonical print (`ok:`)
//! or error message (`err:`) must match the line after it. Every accepted expression must also
//! parse back from its print to the same tree.
//!
//! Refresh the expected lines after an intended change with
//! `FLUORO_BLESS=1 cargo test -p fluoro-analyzer filter_corpus`, then review the diff.

use std::path::PathBuf;

use fluoro_analyzer::parse_filter;

const EXPR: &str = "expr:";
const OK: &str = "ok:";
const ERR: &str = "err:";

fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filter_corpus/parse.txt")
}

/// The expected line for an input, as the parser answers today.
fn actual_line(input: &str) -> String {
    match parse_filter(input) {
        Ok(expr) => {
            let printed = expr.to_string();
            let reparsed = parse_filter(&printed);
            assert_eq!(reparsed.as_ref(), Ok(&expr), "{input:?} printed as {printed:?} does not parse back the same");
            format!("{OK} {printed}")
        }
        Err(error) => format!("{ERR} {error}"),
    }
}

/// The input after `expr:` with the one separating space removed, so leading spaces count.
fn input_of(line: &str) -> &str {
    let rest = &line[EXPR.len()..];
    rest.strip_prefix(' ').unwrap_or(rest)
}

#[test]
fn filter_corpus_matches_expected() {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path).expect("corpus file");
    let lines: Vec<&str> = text.lines().collect();
    let bless = std::env::var_os("FLUORO_BLESS").is_some();
    let mut blessed = Vec::with_capacity(lines.len());
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        index += 1;
        blessed.push(line.to_owned());
        if !line.starts_with(EXPR) {
            continue;
        }
        let actual = actual_line(input_of(line));
        if actual.starts_with(OK) {
            accepted += 1;
        } else {
            rejected += 1;
        }
        let expected = lines.get(index).copied().filter(|next| next.starts_with(OK) || next.starts_with(ERR));
        if expected.is_some() {
            index += 1;
        }
        if expected != Some(actual.as_str()) {
            failures.push(format!(
                "line {index}: {line}\n  expected: {}\n  actual:   {actual}",
                expected.unwrap_or("(nothing)")
            ));
        }
        blessed.push(actual);
    }
    if bless {
        std::fs::write(&path, blessed.join("\n") + "\n").expect("write corpus");
        return;
    }
    assert!(
        failures.is_empty(),
        "{} corpus entries differ (refresh with FLUORO_BLESS=1 if intended):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(accepted >= 60, "the corpus should hold at least 60 valid expressions, has {accepted}");
    assert!(rejected >= 20, "the corpus should hold at least 20 error cases, has {rejected}");
}
