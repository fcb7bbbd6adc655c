//! Every answer of every HTTP listener of a real `fluoro serve` carries a Content-Security-Policy
//! and `X-Content-Type-Options: nosniff`: the dashboard's pages their own policy, everything
//! else (JSON, error texts, 404s, refused bodies) one that lets nothing run or load. Only the
//! dashboard's pages are HTML.

use crate::server::FluoroServer;

const DASHBOARD_PAGES: [&str; 3] = ["/", "/traces", "/assets/no-such-file.js"];
/// (listener, method, path, body): answers that are not pages, most of them errors.
const OTHER_ANSWERS: [(&str, &str, &str, &str); 8] = [
    ("http", "GET", "/no-such-page", ""),
    ("http", "GET", "/metrics", ""),
    ("http", "POST", "/TraceSegments", "{not json"),
    ("http", "POST", "/TraceSummaries", "<script>alert(1)</script>"),
    ("otlp-http", "POST", "/v1/traces", "<html>"),
    ("otlp-http", "GET", "/<script>", ""),
    ("sampling", "POST", "/GetSamplingRules", "{"),
    ("sampling", "GET", "/nothing", ""),
];

async fn answer(server: &FluoroServer, listener: &str, method: &str, path: &str, body: &str) -> reqwest::Response {
    let url = format!("http://127.0.0.1:{}{path}", server.port(listener));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let request = reqwest::Client::new().request(method, url).header("content-type", "application/json");
    request.body(body.to_owned()).send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("")
}

#[test]
fn every_answer_carries_a_content_security_policy() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = FluoroServer::start(data_dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for path in DASHBOARD_PAGES {
            let response = answer(&server, "http", "GET", path, "").await;
            assert_eq!(
                header(&response, "content-security-policy"),
                fluoro_ui::CONTENT_SECURITY_POLICY_VALUE,
                "{path}"
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
        }
        for (listener, method, path, body) in OTHER_ANSWERS {
            let response = answer(&server, listener, method, path, body).await;
            let what = format!("{method} {path} on {listener} ({})", response.status());
            assert_eq!(
                header(&response, "content-security-policy"),
                fluoro_collector::FALLBACK_CONTENT_SECURITY_POLICY,
                "{what}"
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{what}");
            assert!(!header(&response, "content-type").contains("html"), "{what} is not HTML");
        }
    });
}
