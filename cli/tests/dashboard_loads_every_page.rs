//! Every dashboard page loads in Chromium without a script error or a CSP violation; the
//! analytics page compares a dragged range with the rest; the sampling page shows a rule's
//! validation error beside its field and creates the rule. Over HTTP: the page paths answer
//! the shell with the strict CSP, and `GET /traces` does not shadow the X-Ray `POST /Traces`.

use serde_json::json;

use crate::dashboard::Dashboard;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

#[test]
fn dashboard_loads_every_page() {
    let dashboard = Dashboard::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let trace_id = dashboard.facts["traces"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        "/",
        "/traces",
        &format!("/traces/{trace_id}"),
        "/logs",
        "/analytics",
        "/groups",
        "/alarms",
        "/sampling",
        "/assets/app.js",
    ] {
        let response = runtime.block_on(reqwest::get(dashboard.server.url(path))).unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let expected =
            if path.ends_with(".js") { "text/javascript; charset=utf-8" } else { "text/html; charset=utf-8" };
        assert_eq!(headers["content-type"], expected, "{path}");
    }
    // The X-Ray operation on the same word still answers.
    let traces = dashboard.server.post("/Traces", json!({"TraceIds": [trace_id]}));
    assert_eq!(traces["Traces"].as_array().unwrap().len(), 1, "{traces}");

    let seen = dashboard.browse("pages", "dashboard_loads_every_page");
    assert_eq!(seen["titles"].as_object().unwrap().len(), 8, "{seen}");
    let rules = dashboard.server.post("/GetSamplingRules", json!({}));
    assert!(rules.to_string().contains("\"RuleName\":\"checkout\""), "the rule the browser created: {rules}");
}
