//! Runs `filter_corpus/match.txt` against the corpus of `corpus.rs`: every `expr:` line is
//! evaluated through [`trace_summaries`] over the whole corpus, and the names of the matching
//! traces (`match:`) or the error (`err:`) must equal the next line.
//!
//! Refresh the expected lines after an intended change with
//! `FLUORO_BLESS=1 cargo test -p fluoro-analyzer filter_matches`, then review the diff.

use std::path::PathBuf;

use fluoro_analyzer::{parse_filter, trace_summaries, GroupRef, SummaryQuery, TimeRangeType, MAX_PAGE_SIZE};

use crate::corpus::{corpus, Corpus, FROM_US, TO_US};

const EXPR: &str = "expr:";
const MATCH: &str = "match:";
const ERR: &str = "err:";

/// The groups the corpus file refers to.
fn groups(group: &GroupRef) -> Option<String> {
    match group {
        GroupRef::Name(name) if name == "slow" => Some("responsetime > 3".to_owned()),
        GroupRef::Arn(arn) if arn == "arn:aws:xray:us-east-1:000000000000:group/errors/1" => {
            Some("error OR fault".to_owned())
        }
        _ => None,
    }
}

pub(crate) fn matching(corpus: &Corpus, expression: &str) -> Result<Vec<String>, String> {
    let filter = parse_filter(expression).map_err(|error| error.to_string())?;
    let query = SummaryQuery {
        from_us: FROM_US,
        to_us: TO_US,
        range: TimeRangeType::TraceId,
        filter: Some(filter),
        sampling: None,
        offset: 0,
        page_size: MAX_PAGE_SIZE,
    };
    let page = trace_summaries(&corpus.store, &query, &groups).map_err(|error| error.to_string())?;
    let mut names: Vec<String> = page.summaries.iter().map(|summary| corpus.names[&summary.id].clone()).collect();
    names.sort();
    Ok(names)
}

fn actual_line(corpus: &Corpus, expression: &str) -> String {
    match matching(corpus, expression) {
        Ok(names) => format!("{MATCH} {}", names.join(" ")).trim_end().to_owned(),
        Err(error) => format!("{ERR} {error}"),
    }
}

#[test]
fn filter_matches_hand_worked_traces() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filter_corpus/match.txt");
    let text = std::fs::read_to_string(&path).expect("corpus file");
    let lines: Vec<&str> = text.lines().collect();
    let corpus = corpus();
    let bless = std::env::var_os("FLUORO_BLESS").is_some();
    let mut blessed = Vec::with_capacity(lines.len());
    let mut failures = Vec::new();
    let mut expressions = 0;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        index += 1;
        blessed.push(line.to_owned());
        let Some(expression) = line.strip_prefix(EXPR) else { continue };
        let expression = expression.strip_prefix(' ').unwrap_or(expression);
        expressions += 1;
        let actual = actual_line(&corpus, expression);
        let expected = lines.get(index).copied().unwrap_or_default();
        if expected.starts_with(MATCH) || expected.starts_with(ERR) {
            index += 1;
        }
        if expected != actual {
            failures.push(format!("{expression}\n  expected: {expected}\n  actual:   {actual}"));
        }
        blessed.push(actual);
    }
    if bless {
        std::fs::write(&path, blessed.join("\n") + "\n").expect("write corpus");
        return;
    }
    assert!(expressions >= 60, "the corpus holds {expressions} expressions");
    assert!(failures.is_empty(), "{} of {expressions} expressions differ:\n{}", failures.len(), failures.join("\n"));
}

/// Every expression the parser accepts in `filter_corpus/parse.txt` (the spec's examples and
/// the parser's edge cases) evaluates over the corpus: a result or a typed error, never a panic.
#[test]
fn every_parsed_expression_evaluates_without_panicking() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filter_corpus/parse.txt");
    let text = std::fs::read_to_string(path).expect("parse corpus");
    let corpus = corpus();
    let mut evaluated = 0;
    for printed in text.lines().filter_map(|line| line.strip_prefix("ok: ")) {
        if let Err(error) = matching(&corpus, printed) {
            let expected = ["does not exist"];
            assert!(expected.iter().any(|known| error.contains(known)), "{printed}: {error}");
        }
        evaluated += 1;
    }
    assert!(evaluated > 100, "{evaluated} expressions");
}
