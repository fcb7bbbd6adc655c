//! The Traces page in Chromium: a filter that does not parse shows its message with a caret
//! under the column; dragging the slow end of the response-time distribution narrows the list
//! to the slow traces; sorting by response time.

use crate::dashboard::Dashboard;

#[test]
fn dashboard_lists_and_narrows_traces() {
    let dashboard = Dashboard::start();
    let seen = dashboard.browse("traces", "dashboard_lists_and_narrows_traces");
    assert_eq!(seen["column"], 16, "`responsetime > AND fault` goes wrong at column 16");
    assert_eq!(seen["slow"], 8, "every third of 24 requests is slow");
}
