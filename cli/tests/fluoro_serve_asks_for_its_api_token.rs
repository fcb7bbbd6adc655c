//! `fluoro serve --api-token-file`: the HTTP API port asks every query, management call and
//! page for the token (bearer header or the login page's cookie), answers 401 with
//! `WWW-Authenticate` or sends a browser to the login page, keeps the SDKs' write paths open,
//! and the `trace` CLI sends the token from FLUORO_API_TOKEN or FLUORO_API_TOKEN_FILE. Then a
//! headless Chromium logs in and sees the map.

use std::process::{Command, Output};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::dashboard::Dashboard;
use crate::server::FluoroServer;

const TOKEN: &str = "f1u0r0-test-token-0123456789";

#[test]
fn fluoro_serve_asks_for_its_api_token() {
    let dashboard = Dashboard::start_with_token(TOKEN);
    let server = &dashboard.server;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(http_answers(server));

    let trace_id = dashboard.facts["traces"][0]["id"].as_str().unwrap().to_owned();
    let refused = trace(server, &[], &["get", &trace_id]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("API token"), "{refused:?}");
    let found = trace(server, &[("FLUORO_API_TOKEN", TOKEN)], &["get", &trace_id, "--json"]);
    assert!(found.status.success(), "{found:?}");
    assert!(String::from_utf8_lossy(&found.stdout).contains(&trace_id), "{found:?}");
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), TOKEN).unwrap();
    let from_file =
        trace(server, &[("FLUORO_API_TOKEN_FILE", token_file.path().to_str().unwrap())], &["map", "--since", "1h"]);
    assert!(from_file.status.success(), "{from_file:?}");
    assert!(String::from_utf8_lossy(&from_file.stdout).contains("frontend"), "{from_file:?}");

    let seen = dashboard.browse("login", "fluoro_serve_asks_for_its_api_token");
    assert!(seen["nodes"].as_u64().unwrap() >= 5, "the map after logging in: {seen}");
}

async fn http_answers(server: &FluoroServer) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let now = crate::dashboard::now_seconds();
    let window = json!({"StartTime": now - 900.0, "EndTime": now + 60.0});
    let summaries = |authorization: Option<&str>| {
        let mut request = client.post(server.url("/TraceSummaries")).json(&window);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.send()
    };
    for refused in [None, Some("Bearer wrong-token-0123456789"), Some(&format!("Basic {TOKEN}") as &str)] {
        let response = summaries(refused).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{refused:?}");
        assert!(response.headers()[WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["__type"], "UnauthorizedException", "{body}");
    }
    let answered = summaries(Some(&format!("Bearer {TOKEN}"))).await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::UNAUTHORIZED, "counters are not for everyone");

    // The SDKs' write path stays open, as UDP is.
    let segment = json!({"name": "open-write", "id": "70de5b6f19ff9a0a", "start_time": now - 1.0, "end_time": now,
                         "trace_id": format!("1-{:08x}-a006649127e371903a2de979", now as u64)});
    let put = client
        .post(server.url("/TraceSegments"))
        .json(&json!({"TraceSegmentDocuments": [segment.to_string()]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK, "PutTraceSegments needs no token");

    // A browser without the cookie is sent to the login page, which sets it.
    let page = client.get(server.url("/traces")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/login");
    let login = client.get(server.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let log_in = |token: &str| {
        client
            .post(server.url("/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let wrong = log_in("wrong-token-0123456789").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let right = log_in(TOKEN).await.unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let cookie = right.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let name_value = cookie.split(';').next().unwrap();
    let shell = client.get(server.url("/traces")).header(COOKIE, name_value).send().await.unwrap();
    assert_eq!(shell.status(), StatusCode::OK);
}

/// `trace ARGS --endpoint <server>` with only `env` of the API token variables set.
fn trace(server: &FluoroServer, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(args)
        .args(["--endpoint", &server.url("")])
        .env_remove("FLUORO_API_TOKEN")
        .env_remove("FLUORO_API_TOKEN_FILE")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}
