//! The Insights page in headless Chromium against `fluoro serve` with one planted, closed
//! insight whose root cause's type (the catalog segments' origin) is markup: the list, the
//! detail's timeline, root cause and impact per client, every string shown as text
//! (`python/insights_browser.py`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::fluoro_serve_opens_insights::serve_a_closed_insight;

const PAYLOAD: &str = "<img src=x onerror=alert(1)>";

#[test]
fn dashboard_shows_insights() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, _base) = serve_a_closed_insight(data_dir.path(), PAYLOAD, None);
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let screenshot = screenshots.join("insights.png");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/insights_browser.py");
    let run = Command::new("python3")
        .arg(script)
        .arg(server.url("/"))
        .arg(&screenshot)
        .arg(json!({"payload": PAYLOAD}).to_string())
        .output()
        .unwrap();
    assert!(run.status.success(), "insights browser scenario failed: {}", String::from_utf8_lossy(&run.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(seen["events"], json!(["opened", "impact updated", "closed"]));
    assert_eq!(seen["row"][1], "catalog");
    assert!(screenshot.exists());
}
