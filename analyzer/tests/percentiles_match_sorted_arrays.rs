//! Percentiles from the latency histogram against exact nearest-rank answers on sorted arrays,
//! within hdrhistogram's stated precision (3 significant digits: 0.1 %); and from
//! `SortedDurations`, which a filter's report uses, exactly.

use fluoro_analyzer::{LatencyHistogram, SortedDurations};
use proptest::prelude::*;

/// Nearest rank: the smallest value with at least `q·n` values at or below it.
fn sorted_answer(values: &[i64], quantile: f64) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

fn assert_within_precision(values: &[i64]) {
    let histogram = LatencyHistogram::from_micros(values.iter().copied());
    for quantile in [0.5, 0.9, 0.95, 0.99] {
        let exact = sorted_answer(values, quantile) as f64;
        let reported = histogram.quantile_micros(quantile).unwrap() as f64;
        assert!((reported - exact).abs() <= exact * 1e-3 + 1.0, "q{quantile}: {reported} vs exact {exact}");
    }
    let percentiles = histogram.percentiles().unwrap();
    assert_eq!(percentiles.p99, histogram.quantile_micros(0.99).unwrap() as f64 / 1e6);
}

#[test]
fn empty_has_no_percentiles() {
    let histogram = LatencyHistogram::new();
    assert!(histogram.percentiles().is_none());
    assert!(histogram.distribution().is_empty());
}

#[test]
fn a_single_value_is_every_percentile_exactly() {
    let percentiles = LatencyHistogram::from_micros([123_456]).percentiles().unwrap();
    assert_eq!(
        (percentiles.p50, percentiles.p90, percentiles.p95, percentiles.p99),
        (0.123456, 0.123456, 0.123456, 0.123456)
    );
}

#[test]
fn equal_values_are_exact() {
    let histogram = LatencyHistogram::from_micros(vec![2_500_001; 1000]);
    assert_eq!(histogram.percentiles().unwrap().p50, 2.500001);
    assert_eq!(histogram.distribution().len(), 1);
    assert_eq!(histogram.distribution()[0].count, 1000);
}

#[test]
fn one_to_a_thousand_milliseconds() {
    let values: Vec<i64> = (1..=1000).map(|ms| ms * 1000).collect();
    assert_within_precision(&values);
    let percentiles = LatencyHistogram::from_micros(values).percentiles().unwrap();
    assert!((percentiles.p50 - 0.5).abs() <= 0.0005);
    assert!((percentiles.p99 - 0.99).abs() <= 0.001);
}

#[test]
fn merged_histograms_answer_like_one() {
    let mut left = LatencyHistogram::from_micros(1..=500);
    left.merge(&LatencyHistogram::from_micros(501..=1000));
    assert_eq!(left.quantile_micros(0.9), LatencyHistogram::from_micros(1..=1000).quantile_micros(0.9));
}

proptest! {
    #[test]
    fn random_durations_match_within_precision(values in prop::collection::vec(0i64..3_600_000_000, 1..400)) {
        assert_within_precision(&values);
        let histogram = LatencyHistogram::from_micros(values.iter().copied());
        let distribution = histogram.distribution();
        prop_assert_eq!(distribution.iter().map(|entry| entry.count).sum::<u64>(), values.len() as u64);
        prop_assert!(distribution.windows(2).all(|pair| pair[0].value < pair[1].value));
    }

    #[test]
    fn sorted_durations_are_the_sorted_answer(values in prop::collection::vec(0i64..3_600_000_000, 1..400)) {
        let durations = SortedDurations::from_micros(values.iter().copied());
        for (percent, quantile) in [(50, 0.5), (90, 0.9), (95, 0.95), (99, 0.99)] {
            prop_assert_eq!(durations.percentile_micros(percent), Some(sorted_answer(&values, quantile) as u64));
        }
        let distribution = durations.distribution();
        prop_assert_eq!(distribution.iter().map(|entry| entry.count).sum::<u64>(), values.len() as u64);
        prop_assert!(distribution.windows(2).all(|pair| pair[0].value < pair[1].value));
    }
}
