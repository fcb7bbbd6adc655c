//! `fluoro serve --sigv4-keys-file`: boto3 and the AWS CLI signing with a configured key put
//! and read traces, query summaries, the service graph, sampling rules and groups; a wrong
//! secret, an unknown key, an unsigned call and a signature dated 10 minutes ago are refused
//! with the 403 and error code AWS gives, which boto3 raises as `ClientError`. The X-Ray SDK
//! over UDP and the sampling port stay open. A sidecar (`fluoro daemon --forward`) signs with
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` and is refused without them.

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fluoro_daemon_relays_raw_documents::{get_text, metric, segment, FluoroDaemon};
use crate::server::FluoroServer;

const KEY_ID: &str = "AKIDFLUOROTEST0001";
const SECRET: &str = "fluoro+test/secret-0123456789abcdefABCDEF";
const TOKEN: &str = "f1u0r0-test-token-0123456789";

/// A server asking for SigV4 with [`KEY_ID`] (and another key), and, when `token`, the API token.
fn start_server(data_dir: &std::path::Path, token: bool) -> FluoroServer {
    let keys = data_dir.join("sigv4-keys");
    std::fs::write(&keys, format!("# test keys\n{KEY_ID} {SECRET}\nAKIDFLUOROTEST0002 another-secret-0123456789\n"))
        .unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    let token_file = data_dir.join("api-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut args = vec![std::ffi::OsStr::new("--sigv4-keys-file"), keys.as_os_str()];
    if token {
        args.extend([std::ffi::OsStr::new("--api-token-file"), token_file.as_os_str()]);
    }
    FluoroServer::start_with(&data_dir.join("data"), &args)
}

#[test]
fn boto3_and_the_aws_cli_sign_and_everything_else_is_refused_as_aws_would() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = start_server(data_dir.path(), false);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sigv4_clients.py");
    let ports = [server.port("udp").to_string(), server.port("sampling").to_string()];
    let run = Command::new("python3")
        .arg(script)
        .arg(server.url(""))
        .args(&ports)
        .args([KEY_ID, SECRET])
        .output()
        .expect("python3 runs (pip install -r requirements-test.txt)");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let seen: Value = serde_json::from_slice(&run.stdout).unwrap();

    let trace_id = &seen["boto3_trace_id"];
    assert_eq!(seen["boto3_put_unprocessed"], json!([]), "{seen}");
    assert_eq!(seen["boto3_found"], json!([trace_id]), "{seen}");
    assert!(seen["boto3_summaries"].as_array().unwrap().contains(trace_id), "{seen}");
    assert!(seen["boto3_service_graph"].as_array().unwrap().contains(&json!("signed-by-boto3")), "{seen}");
    assert!(seen["boto3_sampling_rules"].as_u64().unwrap() >= 1, "the default rule at least: {seen}");
    assert!(seen["boto3_groups"].as_array().unwrap().contains(&json!("signed-group")), "{seen}");

    assert_eq!(seen["cli_put"]["exit"], 0, "{seen}");
    assert_eq!(seen["cli_get"]["exit"], 0, "{seen}");
    let got: Value = serde_json::from_str(seen["cli_get"]["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(got["Traces"][0]["Id"], seen["cli_trace_id"], "the AWS CLI reads back what it put: {got}");
    assert_ne!(seen["cli_wrong_secret"]["exit"], 0);
    assert!(seen["cli_wrong_secret"]["stderr"].as_str().unwrap().contains("InvalidSignatureException"), "{seen}");

    let refused = |case: &str, code: &str| {
        assert_eq!(seen[case]["status"], 403, "{case}: {seen}");
        assert_eq!(seen[case]["code"], code, "{case}: {seen}");
    };
    refused("wrong_secret", "InvalidSignatureException");
    refused("unknown_key", "UnrecognizedClientException");
    refused("unsigned_get", "MissingAuthenticationTokenException");
    refused("unsigned_put", "MissingAuthenticationTokenException");
    refused("unsigned_sampling", "MissingAuthenticationTokenException");
    refused("ten_minutes_old", "InvalidSignatureException");
    assert!(seen["ten_minutes_old"]["message"].as_str().unwrap().starts_with("Signature expired: "), "{seen}");
    assert_eq!(seen["after_refusals_found"], json!([trace_id]));

    assert_eq!(seen["sdk_found"], json!([seen["sdk_trace_id"]]), "the SDK over UDP is not asked to sign: {seen}");
    assert_eq!(seen["sampling_port_status"], 200, "the SDKs' sampling port stays open");
}

#[test]
fn unsigned_requests_get_the_aws_error_shape_and_the_token_still_opens_the_api() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = start_server(data_dir.path(), true);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let body = json!({"TraceIds": ["1-5f84c7a6-8f0ea3d2b1e54c7a9d3b2f10"]});
        let unsigned = client.post(server.url("/Traces")).json(&body).send().await.unwrap();
        assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
        assert_eq!(unsigned.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
        let answer: Value = unsigned.json().await.unwrap();
        assert_eq!(answer["__type"], "MissingAuthenticationTokenException", "{answer}");
        assert!(answer["message"].as_str().unwrap().contains("Signature Version 4"), "{answer}");

        let with_token = client.post(server.url("/Traces")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        assert_eq!(with_token.status(), StatusCode::OK, "the API token stands for a signature");
        let from_the_dashboard = client
            .post(server.url("/Traces"))
            .header("cookie", format!("fluoro_token={TOKEN}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(from_the_dashboard.status(), StatusCode::OK, "the login cookie too: the dashboard keeps working");
        let page = client.get(server.url("/api/counters")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let no_token = client.get(server.url("/api/counters")).send().await.unwrap();
        assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED, "the dashboard's API still wants the token");

        let forged = client
            .post(server.url("/Traces"))
            .header("x-amz-date", "20261204T120000Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={KEY_ID}/20261204/us-east-1/xray/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={}",
                    "0".repeat(64)
                ),
            )
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a bad signature is refused, not passed to the token check");
    });
}

#[test]
fn a_sidecar_signs_with_the_aws_key_variables_and_is_refused_without_them() {
    let data_dir = tempfile::tempdir().unwrap();
    let central = start_server(data_dir.path(), false);
    let signed = FluoroDaemon::start_with_env(
        &[&central.url("")],
        &[("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET), ("AWS_REGION", "eu-central-1")],
    );
    let unsigned = FluoroDaemon::start_to(&[&central.url("")]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for serial in 1..=3 {
        socket.send_to(&segment(0x51_0000 + serial).1, signed.udp).unwrap();
        socket.send_to(&segment(0x52_0000 + serial).1, unsigned.udp).unwrap();
    }

    let forwarded = r#"fluoro_accepted_total{source="forward"}"#;
    let refused = r#"fluoro_dropped_total{source="forward",reason="refused"}"#;
    wait_for_metric(&format!("http://{}/metrics", signed.http), forwarded, 3);
    wait_for_metric(&format!("http://{}/metrics", unsigned.http), refused, 3);
    let central_text = get_text(&central.url("/metrics"));
    assert_eq!(metric(&central_text, r#"fluoro_accepted_total{source="put_trace_segments"}"#), 3);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let rules = |daemon: &FluoroDaemon| {
            reqwest::Client::new().post(format!("http://{}/GetSamplingRules", daemon.sampling)).json(&json!({})).send()
        };
        assert_eq!(rules(&signed).await.unwrap().status(), StatusCode::OK, "sampling calls are signed on the way");
        assert_eq!(rules(&unsigned).await.unwrap().status(), StatusCode::FORBIDDEN);
    });
}

fn wait_for_metric(url: &str, sample: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = get_text(url);
        if metric(&text, sample) == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{sample} never reached {expected}:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
