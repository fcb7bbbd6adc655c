//! The X-Ray services sample by the rules they fetch through the sidecar, and the services
//! they call follow their decision: with the demo's rule at rate 0 and no reservoir, PetSite's
//! requests leave no trace (nor do petlistadoptions' OpenTelemetry spans under them); back at
//! rate 1, every request is traced.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::demo::Demo;

/// Two of the services' 10 s polls: the rule change has reached them.
const RULES_REACH_THE_SERVICES: Duration = Duration::from_secs(22);

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `count` adoption-list views on PetSite, then the traces of `service` begun meanwhile.
fn traced_views(demo: &Demo, count: usize, service: &str) -> usize {
    let start = now_seconds();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for _ in 0..count {
            let response = reqwest::get(format!("{}/PetListAdoptions", demo.petsite)).await.unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    // The OTLP batch exporters flush every few seconds.
    std::thread::sleep(Duration::from_secs(8));
    let filter = format!("service(\"{service}\") AND http.url CONTAINS \"adoptionlist\" OR service(\"{service}\") AND http.url CONTAINS \"PetListAdoptions\"");
    let request = json!({"StartTime": start, "EndTime": now_seconds() + 5, "FilterExpression": filter});
    demo.post("/TraceSummaries", request)["TraceSummaries"].as_array().unwrap().len()
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
    assert_eq!(traced_views(&demo, 20, "PetSite"), 0, "PetSite sampled nothing at rate 0");
    assert_eq!(traced_views(&demo, 5, "petlistadoptions"), 0, "petlistadoptions followed PetSite's decision");

    set_rule(&demo, 1.0, 1);
    std::thread::sleep(RULES_REACH_THE_SERVICES);
    assert_eq!(traced_views(&demo, 10, "petlistadoptions"), 10, "every request traced at rate 1");
    demo.interrupt();
}
