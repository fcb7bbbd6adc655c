use axum::http::HeaderValue;

use super::super::sign::{signature_headers, AwsCredentials};
use super::*;

const NOW: i64 = 1_796_400_000;
const BODY: &[u8] = br#"{"TraceIds":["1-5f84c7a6-8f0ea3d2b1e54c7a9d3b2f10"]}"#;

fn check() -> SignatureCheck {
    let keys = SigV4Keys::parse("AKIDFLUOROTEST001 fluoro-test-secret-0123456789").unwrap();
    SignatureCheck { keys, max_body_bytes: 1024, token: None }
}

fn signed_request(key_id: &str, secret: &str, signed_at: i64, body: &[u8]) -> Request {
    let url = reqwest::Url::parse("http://127.0.0.1:2020/Traces").unwrap();
    let credentials = AwsCredentials::new(key_id, secret, "eu-west-1");
    let mut request = Request::post("/Traces").body(Body::from(body.to_vec())).unwrap();
    for (name, value) in signature_headers(&url, BODY, &credentials, signed_at) {
        request.headers_mut().insert(name, HeaderValue::from_str(&value).unwrap());
    }
    request
}

async fn refusal(request: Request) -> Refusal {
    verify(&check(), request, NOW).await.unwrap_err()
}

#[tokio::test]
async fn a_signed_request_is_verified_and_keeps_its_body() {
    let request = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW - 60, BODY);
    let verified = verify(&check(), request, NOW).await.unwrap();
    let body = axum::body::to_bytes(verified.into_body(), 4096).await.unwrap();
    assert_eq!(&body[..], BODY);

    let mut over_http2 = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW, BODY);
    over_http2.headers_mut().remove("host");
    *over_http2.uri_mut() = "http://127.0.0.1:2020/Traces".parse().unwrap();
    assert!(verify(&check(), over_http2, NOW).await.is_ok(), "the host from :authority");
}

#[tokio::test]
async fn each_wrong_part_is_refused_as_aws_would() {
    let secret = "fluoro-test-secret-0123456789";
    let wrong_secret = refusal(signed_request("AKIDFLUOROTEST001", "not-the-secret-0123456789", NOW, BODY)).await;
    assert_eq!(wrong_secret, Refusal::Invalid(MISMATCH.to_owned()));
    let unknown = refusal(signed_request("AKIDFLUOROTEST999", secret, NOW, BODY)).await;
    assert_eq!(unknown, Refusal::UnknownKey);
    let other_body = refusal(signed_request("AKIDFLUOROTEST001", secret, NOW, b"{}")).await;
    assert_eq!(other_body, Refusal::Invalid(MISMATCH.to_owned()));
    let Refusal::Invalid(old) = refusal(signed_request("AKIDFLUOROTEST001", secret, NOW - 600, BODY)).await else {
        panic!("a 10 minute old signature passed")
    };
    assert!(old.starts_with("Signature expired: "), "{old}");
    let Refusal::Invalid(future) = refusal(signed_request("AKIDFLUOROTEST001", secret, NOW + 400, BODY)).await else {
        panic!("a signature from the future passed")
    };
    assert!(future.starts_with("Signature not yet current: "), "{future}");
    let too_large = refusal(signed_request("AKIDFLUOROTEST001", secret, NOW, &[b' '; 2048])).await;
    assert_eq!(too_large, Refusal::Body(BodyProblem::TooLarge { limit: 1024 }));
}

#[tokio::test]
async fn a_changed_header_or_scope_is_refused() {
    let secret = "fluoro-test-secret-0123456789";
    let mut moved_date = signed_request("AKIDFLUOROTEST001", secret, NOW, BODY);
    moved_date.headers_mut().insert("x-amz-date", HeaderValue::from_str(&amz_date(NOW + 1)).unwrap());
    assert_eq!(refusal(moved_date).await, Refusal::Invalid(MISMATCH.to_owned()));
    let mut other_service = signed_request("AKIDFLUOROTEST001", secret, NOW, BODY);
    let authorization = other_service.headers()[AUTHORIZATION].to_str().unwrap().replace("/xray/", "/s3/");
    other_service.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&authorization).unwrap());
    assert!(
        matches!(refusal(other_service).await, Refusal::Invalid(message) if message.contains("scoped to correct service"))
    );
    let mut payload_lie = signed_request("AKIDFLUOROTEST001", secret, NOW, BODY);
    payload_lie.headers_mut().insert("x-amz-content-sha256", HeaderValue::from_static("UNSIGNED-PAYLOAD"));
    assert!(
        matches!(refusal(payload_lie).await, Refusal::Invalid(message) if message.contains("x-amz-content-sha256"))
    );
}

#[tokio::test]
async fn malformed_authorization_headers_are_incomplete_signatures() {
    let good = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW, BODY);
    let good = good.headers()[AUTHORIZATION].to_str().unwrap().to_owned();
    let malformed = [
        good.replace("Credential=", "Credentials="),
        good.replace("/aws4_request", "/aws5_request"),
        good.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date;host"),
        good.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=host"),
        good.replace("Signature=", "Signature=zz"),
        good.replace(", Signature", "; Signature"),
        format!("{good}{}", " ".repeat(MAX_AUTHORIZATION_BYTES)),
        "AWS4-HMAC-SHA256".to_owned(),
    ];
    for value in malformed {
        let mut request = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW, BODY);
        request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        assert!(matches!(refusal(request).await, Refusal::Incomplete(_)), "{value}");
    }
    let mut undated = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW, BODY);
    undated.headers_mut().remove("x-amz-date");
    assert!(matches!(refusal(undated).await, Refusal::Incomplete(message) if message.contains("X-Amz-Date")));
}

#[test]
fn aws_operations_are_told_from_the_dashboard_and_its_api() {
    let operations = ["/TraceSegments", "/Traces", "/GetSamplingRules", "/PutMetricAlarm", "/ServiceGraph"];
    for operation in operations.into_iter().chain(["/%54races", "//Traces", "/Traces/x", "/_x"]) {
        assert!(is_aws_operation(operation), "{operation}");
    }
    for other in ["/", "/traces", "/api/histogram", "/metrics", "/login", "/assets/App.js", "/favicon.ico"] {
        assert!(!is_aws_operation(other), "{other}");
    }
}

/// Signed requests with bytes of their `Authorization`, `x-amz-date`, path and query changed,
/// cut or replaced by random ones: a refusal or a pass, never a panic. `FLUORO_FUZZ_CASES`
/// sets the cases (docs/operations.md, "Fuzzing the parsers").
mod signed_requests_never_panic {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    fn fuzz_config() -> Config {
        let cases = std::env::var("FLUORO_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(256);
        Config { cases, max_shrink_iters: 64, failure_persistence: None, ..Config::default() }
    }

    /// `text` with bytes replaced at (position, byte) and cut at `cut` (when within it).
    fn mutate(text: &str, changes: &[(usize, u8)], cut: usize) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        for &(position, byte) in changes {
            if !bytes.is_empty() {
                let index = position % bytes.len();
                bytes[index] = byte;
            }
        }
        bytes.truncate(cut);
        bytes
    }

    fn changes() -> impl Strategy<Value = Vec<(usize, u8)>> {
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)
    }

    #[test]
    fn mutated_signed_requests_never_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let valid = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW, BODY);
        let authorization = valid.headers()[AUTHORIZATION].to_str().unwrap().to_owned();
        let date = valid.headers()["x-amz-date"].to_str().unwrap().to_owned();
        let strategy = (changes(), 0..400usize, changes(), 0..20usize, "[ -~]{0,40}", "[ -~]{0,40}");
        let mut runner = TestRunner::new(fuzz_config());
        runner
            .run(&strategy, |(authorization_changes, authorization_cut, date_changes, date_cut, path, query)| {
                let mut request = signed_request("AKIDFLUOROTEST001", "fluoro-test-secret-0123456789", NOW, BODY);
                let uri = format!("/{}?{}", path.replace(['?', '#', ' '], "/"), query.replace(['#', ' '], "&"));
                if let Ok(uri) = uri.parse() {
                    *request.uri_mut() = uri;
                }
                let headers = request.headers_mut();
                let authorization = mutate(&authorization, &authorization_changes, authorization_cut);
                if let Ok(value) = HeaderValue::from_bytes(&authorization) {
                    headers.insert(AUTHORIZATION, value);
                }
                if let Ok(value) = HeaderValue::from_bytes(&mutate(&date, &date_changes, date_cut)) {
                    headers.insert("x-amz-date", value);
                }
                let _ = runtime.block_on(verify(&check(), request, NOW));
                Ok(())
            })
            .unwrap();
    }
}
