//! The X-Ray services sample by the rules they fetch through the sidecar, and the services
//! they call follow their decision: with the demo's rule at rate 0 and no reservoir, PetSite's
//! requests leave no trace (nor do petlistadoptions' OpenTelemetry spans under them); back at
//! rate 1, every request is traced.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::demo::Demo;

/// Two of the services' 10 s polls: the rule change has reached them.
const RULES_REACH_THE_SERVICES: Duration = Duration::from_secs(22);

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// How long the OTLP batch exporters may take to flush what they hold (a few seconds each).
const EXPORTERS_FLUSH: Duration = Duration::from_secs(8);

/// At rate 1, how long a run of views may stay partly untraced: the rule's change reaches each
/// service at its own poll, and on a loaded machine the exporters flush late.
const ALL_TRACED_WITHIN: Duration = Duration::from_secs(60);

/// `count` adoption-list views on PetSite; returns when they began.
fn view_adoption_list(demo: &Demo, count: usize) -> u64 {
    let start = now_seconds();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for _ in 0..count {
            let response = reqwest::get(format!("{}/PetListAdoptions", demo.petsite)).await.unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    start
}

/// The traces of `service`'s adoption-list requests begun since `start`.
fn traced_since(demo: &Demo, start: u64, service: &str) -> usize {
    let filter = format!("service(\"{service}\") AND http.url CONTAINS \"adoptionlist\" OR service(\"{service}\") AND http.url CONTAINS \"PetListAdoptions\"");
    let request = json!({"StartTime": start, "EndTime": now_seconds() + 5, "FilterExpression": filter});
    demo.post("/TraceSummaries", request)["TraceSummaries"].as_array().unwrap().len()
}

/// At rate 0, how long runs of views may keep leaving a trace: a service whose quota expired
/// before its next report (late on a loaded machine) borrows one request a second, as the SDKs
/// do, so a run can leave one; a service that ignored the rule leaves some in every run.
const NONE_TRACED_WITHIN: Duration = Duration::from_secs(60);

/// Runs of `count` views, each followed by the exporters' flush, until one leaves no trace of
/// `service`, for up to [`NONE_TRACED_WITHIN`]; returns the fewest traces a run left.
fn views_until_none_traced(demo: &Demo, count: usize, service: &str) -> usize {
    let deadline = Instant::now() + NONE_TRACED_WITHIN;
    let mut fewest = usize::MAX;
    while fewest > 0 && Instant::now() < deadline {
        let start = view_adoption_list(demo, count);
        std::thread::sleep(EXPORTERS_FLUSH);
        fewest = fewest.min(traced_since(demo, start, service));
        // The next run must not count this one's late traces.
        std::thread::sleep(Duration::from_secs(1));
    }
    fewest
}

/// Runs of `count` views until one is traced in full, polling its traces as they arrive, for
/// up to [`ALL_TRACED_WITHIN`]; returns the best run's count.
fn views_until_all_traced(demo: &Demo, count: usize, service: &str) -> usize {
    let deadline = Instant::now() + ALL_TRACED_WITHIN;
    let mut best = 0;
    while Instant::now() < deadline {
        let start = view_adoption_list(demo, count);
        let run_deadline = (Instant::now() + 2 * EXPORTERS_FLUSH).min(deadline);
        loop {
            let traced = traced_since(demo, start, service);
            best = best.max(traced);
            if traced >= count || Instant::now() >= run_deadline {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        if best >= count {
            break;
        }
        // The next run must not count this one's late traces.
        std::thread::sleep(Duration::from_secs(1));
    }
    best
}

fn set_rule(demo: &Demo, fixed_rate: f64, reservoir: u64) {
    let update =
        json!({"SamplingRuleUpdate": {"RuleName": "fluoro-demo", "FixedRate": fixed_rate, "ReservoirSize": reservoir}});
    demo.post("/UpdateSamplingRule", update);
}

#[test]
fn fluoro_demo_samples_by_the_sidecars_rules() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    // Only this test's requests.
    demo.scenario(&["traffic", "0"]);
    set_rule(&demo, 0.0, 0);
    std::thread::sleep(RULES_REACH_THE_SERVICES);
    assert_eq!(views_until_none_traced(&demo, 20, "PetSite"), 0, "PetSite sampled nothing at rate 0");
    assert_eq!(
        views_until_none_traced(&demo, 5, "petlistadoptions"),
        0,
        "petlistadoptions followed PetSite's decision"
    );

    set_rule(&demo, 1.0, 1);
    std::thread::sleep(RULES_REACH_THE_SERVICES);
    assert_eq!(views_until_all_traced(&demo, 10, "petlistadoptions"), 10, "every request traced at rate 1");
    demo.interrupt();
}
