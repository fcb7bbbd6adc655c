//! Fixed timelines through the real path: span records → root causes → minute observations →
//! the detector. A seeded generator makes the noise reproducible.

use super::*;
use crate::insight_minutes::observe_traces;
use crate::span_record::SpanRecord;

/// splitmix64: small, seeded, good enough for Bernoulli noise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.next() < probability
    }

    /// A log-normal time around `median` seconds (σ 0.3), a 0.5 % chance of 4× longer.
    fn latency(&mut self, median: f64) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        let outlier = if self.chance(0.005) { 4.0 } else { 1.0 };
        median * (0.3 * normal).exp() * outlier
    }
}

/// Own fault probabilities: frontend → search → catalog, and frontend → cart on half the traces.
#[derive(Clone, Copy)]
struct Faults {
    frontend: f64,
    search: f64,
    catalog: f64,
    cart: f64,
    /// catalog's median response time, seconds.
    catalog_latency: f64,
}

const STEADY: Faults = Faults { frontend: 0.01, search: 0.015, catalog: 0.01, cart: 0.02, catalog_latency: 0.02 };

fn segment(
    trace: u64,
    id: u64,
    parent: Option<u64>,
    name: &str,
    (start_us, seconds): (i64, f64),
    fault: bool,
) -> SpanRecord {
    SpanRecord {
        trace: (0, trace),
        id,
        parent_id: parent,
        segment: true,
        name: name.to_owned(),
        origin: Some("AWS::EC2::Instance".to_owned()),
        start_us,
        end_us: Some(start_us + (seconds * 1e6) as i64),
        fault,
        ..SpanRecord::default()
    }
}

/// One trace; a caller faults when it or a callee faults.
fn trace(rng: &mut Rng, number: u64, start_us: i64, faults: Faults) -> Vec<SpanRecord> {
    let catalog = rng.chance(faults.catalog);
    let search = rng.chance(faults.search) || catalog;
    let with_cart = rng.chance(0.5);
    let cart = with_cart && rng.chance(faults.cart);
    let frontend = rng.chance(faults.frontend) || search || cart;
    // Callers wait for their callees.
    let catalog_seconds = rng.latency(faults.catalog_latency);
    let search_seconds = catalog_seconds + rng.latency(0.005);
    let cart_seconds = if with_cart { rng.latency(0.01) } else { 0.0 };
    let frontend_seconds = search_seconds + cart_seconds + rng.latency(0.005);
    let mut records = vec![
        segment(number, 1, None, "frontend", (start_us, frontend_seconds), frontend),
        segment(number, 2, Some(1), "search", (start_us + 1_000, search_seconds), search),
        segment(number, 3, Some(2), "catalog", (start_us + 2_000, catalog_seconds), catalog),
    ];
    if with_cart {
        records.push(segment(number, 4, Some(1), "cart", (start_us + 1_000, cart_seconds), cart));
    }
    records
}

fn minute_of(rng: &mut Rng, minute: i64, requests: u64, faults: Faults) -> MinuteObservation {
    let traces: Vec<Vec<SpanRecord>> = (0..requests)
        .map(|number| {
            let start_us = minute * 1_000_000 + (number as i64 * 59_000_000) / requests.max(1) as i64;
            trace(rng, minute as u64 * 10_000 + number, start_us, faults)
        })
        .collect();
    observe_traces(minute, traces.iter().map(Vec::as_slice))
}

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn service(name: &str) -> ServiceKey {
    ServiceKey::new(name, Some("AWS::EC2::Instance"))
}

#[test]
fn a_planted_fault_jump_opens_at_its_third_minute_names_the_deepest_service_and_closes() {
    let mut rng = Rng(7);
    let mut detector = Detector::default();
    let config = DetectorConfig::default();
    let planted = Faults { catalog: 0.3, ..STEADY };
    let mut detections = Vec::new();
    for index in 0..200 {
        let faults = if (120..140).contains(&index) { planted } else { STEADY };
        let observation = minute_of(&mut rng, T0 + index * 60, 100, faults);
        detections.extend(detector.observe(&observation, &config));
    }
    let opened: Vec<_> = detections.iter().filter(|d| matches!(d, Detection::Opened { .. })).collect();
    let closed: Vec<_> = detections.iter().filter(|d| matches!(d, Detection::Closed { .. })).collect();
    assert_eq!(opened.len(), 1, "{detections:#?}");
    assert_eq!(closed.len(), 1, "{detections:#?}");
    let Detection::Opened { root_cause, category, start, at, impact } = opened[0] else { unreachable!() };
    assert_eq!(*category, Category::Fault);
    assert_eq!(root_cause, &service("catalog"), "the callers fault too, but their faults point at catalog");
    assert_eq!((*start, *at), (T0 + 120 * 60, T0 + 122 * 60));
    assert!(impact.anomalous_services.contains(&service("search")));
    assert!(impact.anomalous_services.contains(&service("frontend")));
    assert!(!impact.anomalous_services.contains(&service("cart")));
    assert_eq!(impact.root_cause.total_count, 300, "three minutes of 100 requests to catalog");
    assert!(impact.root_cause.fault_count > 60, "{impact:?}");
    let clients = impact.client_total();
    assert_eq!(clients.total_count, 300);
    assert_eq!(impact.clients[0].0, service("frontend"));
    assert!(impact.peak_fault_rate > 0.2 && impact.baseline_fault_rate < 0.03, "{impact:?}");
    let Detection::Closed { root_cause, end, at, .. } = closed[0] else { unreachable!() };
    assert_eq!(root_cause, &service("catalog"));
    assert_eq!((*end, *at), (T0 + 140 * 60, T0 + 142 * 60));
    let continued = detections.iter().filter(|d| matches!(d, Detection::Continued { .. })).count();
    assert_eq!(continued, 17, "minutes 123..140 of the jump");
}

#[test]
fn a_planted_latency_jump_opens_a_latency_insight_on_the_deepest_slow_service() {
    let mut rng = Rng(9);
    let mut detector = Detector::default();
    let config = DetectorConfig::default();
    let slow = Faults { catalog_latency: 0.15, ..STEADY };
    let mut detections = Vec::new();
    for index in 0..200 {
        let faults = if (120..140).contains(&index) { slow } else { STEADY };
        detections.extend(detector.observe(&minute_of(&mut rng, T0 + index * 60, 100, faults), &config));
    }
    let opened: Vec<_> = detections.iter().filter(|d| matches!(d, Detection::Opened { .. })).collect();
    assert_eq!(opened.len(), 1, "{opened:#?}");
    let Detection::Opened { root_cause, category, start, at, impact } = opened[0] else { unreachable!() };
    assert_eq!((root_cause, *category), (&service("catalog"), Category::Latency), "search and frontend wait for it");
    assert_eq!((*start, *at), (T0 + 120 * 60, T0 + 122 * 60));
    assert!(impact.anomalous_services.contains(&service("search")), "{impact:?}");
    assert!(impact.peak_p99 > 0.2 && impact.baseline_p99 < 0.06, "{impact:?}");
    let closed = detections.iter().find_map(|d| match d {
        Detection::Closed { root_cause, category: Category::Latency, end, at } => Some((root_cause.clone(), *end, *at)),
        _ => None,
    });
    assert_eq!(closed, Some((service("catalog"), T0 + 140 * 60, T0 + 142 * 60)));
}

#[test]
fn a_simulated_steady_noisy_day_opens_nothing() {
    let mut rng = Rng(42);
    let mut detector = Detector::default();
    let config = DetectorConfig::default();
    let mut detections = Vec::new();
    let mut single_minutes = (0u32, 0u32);
    // An hour of warm-up, then a day whose volume follows the sun: 10 to 190 requests a minute.
    for index in 0..(60 + 1440) {
        let phase = (index as f64 / 1440.0) * std::f64::consts::TAU;
        let requests = (100.0 - 90.0 * phase.cos()).round() as u64;
        let faults = if index % 2 == 0 { STEADY } else { Faults { catalog: 0.02, search: 0.01, ..STEADY } };
        let observation = minute_of(&mut rng, T0 + index * 60, requests, faults);
        detections.extend(detector.observe(&observation, &config));
        for (_, history) in &detector.history {
            let Some(last) = history.back().filter(|count| count.minute == observation.minute) else { continue };
            single_minutes.0 += u32::from(last.anomalous);
            single_minutes.1 += u32::from(last.slow);
        }
    }
    assert_eq!(detections, Vec::new());
    // Four services × 1500 minutes: single anomalous minutes are rare, three in a row never.
    assert!(single_minutes.0 + single_minutes.1 <= 10, "anomalous minutes (fault, latency): {single_minutes:?}");
    eprintln!("single anomalous minutes over the day (fault, latency): {single_minutes:?}");
}

#[test]
fn a_fault_jump_without_a_baseline_opens_nothing() {
    let mut rng = Rng(3);
    let mut detector = Detector::default();
    let config = DetectorConfig::default();
    let mut detections = Vec::new();
    for index in 0..10 {
        let observation = minute_of(&mut rng, T0 + index * 60, 100, Faults { catalog: 0.5, ..STEADY });
        detections.extend(detector.observe(&observation, &config));
    }
    assert_eq!(detections, Vec::new(), "no hour of baseline yet");
}

#[test]
fn skipped_minutes_close_an_open_insight_and_old_minutes_are_ignored() {
    let mut rng = Rng(11);
    let mut detector = Detector::default();
    let config = DetectorConfig::default();
    for index in 0..63 {
        let faults = if index >= 60 { Faults { catalog: 0.4, ..STEADY } } else { STEADY };
        detector.observe(&minute_of(&mut rng, T0 + index * 60, 100, faults), &config);
    }
    assert_eq!(detector.observe(&minute_of(&mut rng, T0, 100, STEADY), &config), Vec::new());
    let later = detector.observe(&minute_of(&mut rng, T0 + 80 * 60, 100, STEADY), &config);
    let closed = Detection::Closed {
        root_cause: service("catalog"),
        category: Category::Fault,
        end: T0 + 63 * 60,
        at: T0 + 65 * 60,
    };
    assert_eq!(later, vec![closed]);
}

#[test]
fn the_detector_state_survives_serialization() -> anyhow::Result<()> {
    let mut rng = Rng(5);
    let mut detector = Detector::default();
    for index in 0..61 {
        detector.observe(&minute_of(&mut rng, T0 + index * 60, 50, STEADY), &DetectorConfig::default());
    }
    let text = serde_json::to_string(&detector)?;
    assert_eq!(serde_json::from_str::<Detector>(&text)?, detector);
    Ok(())
}

#[test]
fn binomial_upper_tail_matches_exact_values() {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1e-300);
    // P(X >= 3), X ~ Bin(10, 0.1) = 1 - (0.9^10 + 10·0.1·0.9^9 + 45·0.01·0.9^8)
    let expected = 1.0 - (0.9f64.powi(10) + 0.9f64.powi(9) + 0.45 * 0.9f64.powi(8));
    assert!(close(binomial_upper_tail(10, 3, 0.1), expected));
    assert!(close(binomial_upper_tail(5, 5, 0.5), 1.0 / 32.0));
    assert_eq!(binomial_upper_tail(100, 0, 0.01), 1.0);
    assert_eq!(binomial_upper_tail(100, 1, 0.05), 1.0, "at or below the mean");
    assert_eq!(binomial_upper_tail(10, 11, 0.5), 0.0);
    assert!(binomial_upper_tail(100_000, 50_000, 0.01) < 1e-300);
}
