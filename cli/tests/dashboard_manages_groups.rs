//! The Groups page in Chromium: an invalid filter's message beside the field, a group created,
//! listed, and its link opening the map scoped to it.

use serde_json::json;

use crate::dashboard::Dashboard;

#[test]
fn dashboard_manages_groups() {
    let dashboard = Dashboard::start();
    dashboard.browse("groups", "dashboard_manages_groups");
    let group = dashboard.server.post("/GetGroup", json!({"GroupName": "slow"}));
    assert_eq!(group["Group"]["FilterExpression"], "responsetime > 1", "the group the browser created: {group}");
}
