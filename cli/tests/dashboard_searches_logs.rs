//! The Logs page in Chromium: every line of the window newest first, a page at a time (the
//! API's NextToken), lines outside spans without a trace link; a search by service and text
//! from the form, kept in the URL; a minimum severity; the found line's message (carrying
//! `<img src=x onerror=alert(1)>`) shown as text; its link opens its trace.

use crate::dashboard::Dashboard;

#[test]
fn dashboard_searches_logs() {
    let dashboard = Dashboard::start();
    let seen = dashboard.browse("logs", "dashboard_searches_logs");
    let sent = dashboard.facts["logs"].as_array().unwrap().len()
        + dashboard.facts["health_log_lines"].as_u64().unwrap() as usize;
    assert_eq!(seen["rows"].as_u64().unwrap() as usize, sent, "{seen}");
    let payload = dashboard.facts["payload"].as_str().unwrap();
    assert_eq!(seen["found"][3], format!("payment failed: {payload}"), "{seen}");
    let fault = dashboard.facts["traces"].as_array().unwrap().iter().find(|t| t["fault"] == true).unwrap();
    assert_eq!(seen["found"][4], fault["id"], "the found line links its trace: {seen}");
}
