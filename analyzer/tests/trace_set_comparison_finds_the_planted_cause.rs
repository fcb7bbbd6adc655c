//! Trace-set comparison finds a planted cause (analyzer issue, "Done means"): 200 traces where
//! `/api/adopt` is slow (> 3 s) and mostly fails with 500 while the other URLs are fast and
//! fine, plus noise (random users, unrelated annotations, a few slow traces of other URLs, some
//! 404s). Comparing `responsetime > 3` with the rest must rank the adopt URL (or its 500s)
//! first, show 500 over-represented in the slow set, and report each set's percentiles as the
//! sorted arrays answer them.

use fluoro_analyzer::{
    compare_trace_sets, AnalyzerError, ComparisonQuery, GroupRef, GroupResolver, NoGroups, TraceSetComparison,
    TraceSetFilter,
};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};

use crate::corpus::{write, FROM_US, T0, TO_US};

const TRACES: u32 = 200;
const URLS: [&str; 4] = ["/api/adopt", "/api/search", "/api/pets", "/api/home"];
const USERS: [&str; 8] = ["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana"];
const PET_TYPES: [&str; 3] = ["puppy", "kitten", "bunny"];

/// A 64-bit LCG (Knuth's MMIX constants): reproducible without a crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }

    fn micros(&mut self, from_seconds: f64, to_seconds: f64) -> i64 {
        ((from_seconds + self.unit() * (to_seconds - from_seconds)) * 1e6).round() as i64
    }
}

/// One generated request: what the test knows about it.
struct Planted {
    response_us: i64,
}

/// The documents of trace `number`: petsite → petsearch, and for adoptions → payforadoption,
/// which faults (and petsite answers 500) in most of them.
fn trace(number: u32, random: &mut Lcg) -> (Vec<Value>, Planted) {
    let trace_id = format!("1-{:08x}-{:024x}", T0 as u32 + number, number);
    let span = |n: u32| format!("{number:08x}{n:08x}");
    let start = T0 + f64::from(number);
    let url = if random.unit() < 0.2 { URLS[0] } else { URLS[1 + random.below(3)] };
    let adopt = url == URLS[0];
    let failing = adopt && random.unit() < 0.85;
    let response_us = match (adopt, random.unit() < 0.06) {
        (true, _) => random.micros(3.2, 5.0),
        (false, true) => random.micros(3.1, 4.0),
        (false, false) => random.micros(0.05, 0.8),
    };
    let status = if failing {
        500
    } else if !adopt && random.unit() < 0.04 {
        404
    } else {
        200
    };
    let end = start + response_us as f64 / 1e6;
    // Other pages also read adoption status and some searches are POSTs, so neither the
    // method nor the downstream service is a perfect alias of the URL.
    let downstream = if adopt || random.unit() < 0.25 { "payforadoption" } else { "petsearch" };
    let call = json!({"id": span(2), "name": downstream, "namespace": "remote", "start_time": start + 0.01,
                      "end_time": end - 0.01, "http": {"request": {"method": "POST", "url": format!("http://{downstream}/"),
                      "traced": true}, "response": {"status": if failing { 500 } else { 200 }}}});
    let mut callee = json!({"trace_id": trace_id, "id": span(3), "parent_id": span(2), "name": downstream,
                            "origin": "AWS::ECS::Container", "start_time": start + 0.02, "end_time": end - 0.02});
    if failing {
        callee["fault"] = json!(true);
        callee["cause"] = json!({"exceptions": [{"id": "0000000000000001", "type": "SqlException",
                                                  "message": "deadlock victim"}]});
    }
    let method = if adopt || random.unit() < 0.3 { "POST" } else { "GET" };
    let root = json!({
        "trace_id": trace_id, "id": span(1), "name": "petsite", "origin": "AWS::EC2::Instance",
        "start_time": start, "end_time": end, "fault": status >= 500, "error": (400..500).contains(&status),
        "user": USERS[random.below(USERS.len())],
        "annotations": {"pettype": PET_TYPES[random.below(3)], "build": 1 + random.below(3)},
        "http": {"request": {"method": method, "url": format!("http://petsite.example.com{url}?request={number}")},
                 "response": {"status": status}},
        "subsegments": [call],
    });
    (vec![root, callee], Planted { response_us })
}

fn planted_store() -> (Store, tempfile::TempDir, Vec<Planted>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let mut random = Lcg(20_261_126);
    let mut planted = Vec::new();
    for number in 0..TRACES {
        let (documents, known) = trace(number, &mut random);
        write(&store, &documents);
        planted.push(known);
    }
    (store, dir, planted)
}

/// Nearest rank, as the histogram reports it.
fn sorted_answer(values: &[i64], quantile: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1] as f64 / 1e6
}

fn assert_percentiles(comparison: &TraceSetComparison, planted: &[Planted]) {
    let (slow, rest): (Vec<i64>, Vec<i64>) = {
        let all = planted.iter().map(|p| p.response_us);
        (all.clone().filter(|us| *us > 3_000_000).collect(), all.filter(|us| *us <= 3_000_000).collect())
    };
    for (set, values) in [(&comparison.selection, &slow), (&comparison.baseline, &rest)] {
        assert_eq!(set.traces, values.len() as u64);
        let percentiles = set.percentiles.unwrap();
        let reported = [percentiles.p50, percentiles.p90, percentiles.p95, percentiles.p99];
        for (quantile, reported) in [0.5, 0.9, 0.95, 0.99].into_iter().zip(reported) {
            let exact = sorted_answer(values, quantile);
            // 3 significant digits, plus the microsecond lost to float epoch seconds.
            assert!((reported - exact).abs() <= exact * 1e-3 + 2e-6, "q{quantile}: {reported} vs {exact}");
        }
        assert_eq!(set.distribution.iter().map(|entry| entry.count).sum::<u64>(), values.len() as u64);
    }
}

#[test]
fn slow_traces_are_explained_by_the_failing_url() {
    let (store, _dir, planted) = planted_store();
    let comparison = compare(&store, FROM_US, TO_US, "responsetime > 3", None, None, &NoGroups).unwrap();
    for row in comparison.ranking.iter().take(5) {
        eprintln!(
            "{:<32} {:<20} {:>5.1}% {:>5.1}% diff {:+.3} logOR {:+.2} z {:+.2} score {:.3}",
            row.attribute,
            row.value,
            row.effect.selection_share * 100.0,
            row.effect.baseline_share * 100.0,
            row.effect.difference,
            row.effect.log_odds_ratio,
            row.effect.z,
            row.effect.score
        );
    }
    let first = &comparison.ranking[0];
    assert!(
        matches!((first.attribute.as_str(), first.value.as_str()), ("http.url", "/api/adopt") | ("http.status", "500")),
        "ranked first: {first:?}"
    );
    assert_eq!(comparison.selection.traces + comparison.baseline.traces, u64::from(TRACES));
    assert_percentiles(&comparison, &planted);

    // The seed's example: broken down by HTTP status code, 500 explains the slow set.
    let statuses = comparison.attributes.iter().find(|group| group.attribute == "http.status").unwrap();
    let top_status = &statuses.values[0];
    assert_eq!(top_status.value, "500");
    assert!(top_status.effect.selection_share > 0.6, "{top_status:?}");
    assert!(top_status.effect.baseline_share < 0.05, "{top_status:?}");
    assert!(top_status.effect.z > 3.0, "{top_status:?}");
    let ok = statuses.values.iter().find(|row| row.value == "200").unwrap();
    assert!(ok.effect.difference < 0.0, "200 is under-represented in the slow set: {ok:?}");

    // Noise stays below the planted cause: no user or pet type explains the slow set.
    for row in comparison.ranking.iter().filter(|row| matches!(row.attribute.as_str(), "user" | "annotation")) {
        assert!(row.effect.score < first.effect.score / 2.0, "noise ranked high: {row:?}");
    }
    // Values every trace has carry no effect.
    let entry = comparison.ranking.iter().find(|row| row.attribute == "entrypoint").unwrap();
    assert_eq!((entry.value.as_str(), entry.effect.score), ("petsite", 0.0));
    let fault_cause = comparison.ranking.iter().find(|row| row.attribute == "rootcause.fault.service").unwrap();
    assert_eq!(fault_cause.value, "payforadoption");
    assert!(comparison.ranking.iter().any(|row| row.attribute == "exception" && row.value == "SqlException"));
}

#[test]
fn an_explicit_baseline_is_its_own_set() {
    let (store, _dir, planted) = planted_store();
    let complement = compare(&store, FROM_US, TO_US, "responsetime > 3", None, None, &NoGroups).unwrap();
    let explicit =
        compare(&store, FROM_US, TO_US, "responsetime > 3", Some("responsetime <= 3"), None, &NoGroups).unwrap();
    assert_eq!(explicit.baseline.traces, complement.baseline.traces);
    assert_eq!(explicit.ranking, complement.ranking);
    assert_eq!(explicit.baseline.expression.as_deref(), Some("responsetime <= 3"));
    assert_percentiles(&explicit, &planted);
    let all = compare(&store, FROM_US, TO_US, "responsetime > 3", Some(""), None, &NoGroups).unwrap();
    assert_eq!(all.baseline.traces, u64::from(TRACES));
}

#[test]
fn a_group_scopes_both_sets() {
    let (store, _dir, planted) = planted_store();
    // The group leaves out the fast half of the rest: every slow trace is in it, and of the
    // others only those answering in more than 0.5 s.
    let resolver =
        |group: &GroupRef| (*group == GroupRef::Name("not-fast".to_owned())).then(|| "responsetime > 0.5".to_owned());
    let in_group = |us: &i64| *us > 500_000;
    let slow = planted.iter().filter(|p| p.response_us > 3_000_000).count() as u64;
    let rest_in_group = planted.iter().map(|p| p.response_us).filter(in_group).count() as u64 - slow;
    let rest = u64::from(TRACES) - slow;
    assert!(rest_in_group > 0 && rest_in_group < rest, "the group must exclude part of the rest");
    let group = GroupRef::Name("not-fast".to_owned());

    let complement = compare(&store, FROM_US, TO_US, "responsetime > 3", None, Some(&group), &resolver).unwrap();
    assert_eq!((complement.selection.traces, complement.baseline.traces), (slow, rest_in_group));
    let explicit =
        compare(&store, FROM_US, TO_US, "responsetime > 3", Some("responsetime <= 3"), Some(&group), &resolver)
            .unwrap();
    assert_eq!((explicit.selection.traces, explicit.baseline.traces), (slow, rest_in_group));
    // The attribute counts are the group's too: every trace enters at petsite.
    let entry = explicit.ranking.iter().find(|row| row.attribute == "entrypoint").unwrap();
    assert_eq!((entry.selection_traces, entry.baseline_traces), (slow, rest_in_group));
    // A group that leaves out the slow traces empties the selection.
    let fast_only = |_: &GroupRef| Some("responsetime <= 3".to_owned());
    let empty = compare(&store, FROM_US, TO_US, "responsetime > 3", None, Some(&group), &fast_only).unwrap();
    assert_eq!((empty.selection.traces, empty.baseline.traces), (0, rest));

    let unknown = compare(&store, FROM_US, TO_US, "responsetime > 3", None, Some(&group), &NoGroups);
    assert!(unknown.is_err(), "an unknown group is refused, not ignored");
}

#[test]
fn an_invalid_expression_says_where() {
    let (store, _dir, _) = planted_store();
    let error = compare(&store, FROM_US, TO_US, "responsetime > 3", Some(r#"responsetime > "x""#), None, &NoGroups)
        .unwrap_err();
    assert!(matches!(error, AnalyzerError::Filter(_)));
    assert_eq!(error.to_string(), "expected a number after > at column 16");
}

/// The comparison of two expressions, parsed as the API parses them.
fn compare(
    store: &Store,
    from_us: i64,
    to_us: i64,
    selection: &str,
    baseline: Option<&str>,
    group: Option<&GroupRef>,
    groups: &dyn GroupResolver,
) -> Result<TraceSetComparison, AnalyzerError> {
    let query = ComparisonQuery {
        from_us,
        to_us,
        selection: TraceSetFilter::parse(selection)?,
        baseline: baseline.map(TraceSetFilter::parse).transpose()?,
        group: group.cloned(),
    };
    compare_trace_sets(store, &query, groups)
}
