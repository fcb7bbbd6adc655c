//! A person's adoption on PetSite in headless Chromium (search, take me home, pay, the adoption
//! list; `python/petsite_browser.py`), then that very payment's trace found in the dashboard
//! by the id the payment page shows; then the demo's scenario switched from the dashboard's top
//! bar, which the running demo must really apply.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::demo::Demo;

#[test]
fn a_petsite_adoption_clicked_in_a_browser_is_found_in_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/petsite_browser.py");
    let run =
        Command::new("python3").arg(script).arg(&demo.petsite).arg(&demo.dashboard).arg(&screenshots).output().unwrap();
    assert!(run.status.success(), "petsite_browser.py failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let seen: Value = serde_json::from_slice(&run.stdout).unwrap();
    let timeline: Vec<&str> = seen["timeline"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(timeline.first(), Some(&"PetSite"), "the payment's trace starts at PetSite: {timeline:?}");
    for hop in ["Call Payment API", "payforadoption", "PetAdoptionStatusUpdater/prod", "petstatusupdater", "DynamoDB"] {
        assert!(timeline.contains(&hop), "{hop} in {timeline:?}");
    }
    let switched = serde_json::json!({"traffic": 2, "billing": "on-demand", "errormode1": "on"});
    assert_eq!(seen["scenario"], switched, "the switches show the demo's answer");
    let shown: Value = serde_json::from_str(&demo.scenario(&["show"])).unwrap();
    assert_eq!(shown, switched, "the demo applied what the dashboard switched");
    demo.interrupt();
}
