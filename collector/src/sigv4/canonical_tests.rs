//! AWS's published SigV4 test suite (the `aws-sig-v4-test-suite` cases as kept in
//! awslabs/aws-c-auth `tests/aws-signing-test-suite/v4`, normalized-path variants): each
//! request, its canonical request and its signature, with the suite's credentials.

use super::*;

const ACCESS_KEY_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20150830T123600Z";
const SCOPE: &str = "20150830/us-east-1/service/aws4_request";
const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const UNRESERVED: &str = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    /// Besides `Host: example.amazonaws.com` and the `x-amz-date`.
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    /// The canonical request's lines from the headers on (the method, URI and query first).
    canonical_start: &'static str,
    signature: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |name, method, path, query, canonical_start, signature| Case {
        name,
        method,
        path,
        query,
        headers: &[],
        body: "",
        canonical_start,
        signature,
    };
    vec![
        case(
            "get-vanilla",
            "GET",
            "/",
            "",
            "GET\n/\n",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        case(
            "post-vanilla",
            "POST",
            "/",
            "",
            "POST\n/\n",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        case(
            "get-relative-normalized",
            "GET",
            "/example/..",
            "",
            "GET\n/\n",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        case(
            "get-relative-relative-normalized",
            "GET",
            "/example1/example2/../..",
            "",
            "GET\n/\n",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        case(
            "get-slash-dot-slash-normalized",
            "GET",
            "/./",
            "",
            "GET\n/\n",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        case(
            "get-slash-normalized",
            "GET",
            "//",
            "",
            "GET\n/\n",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        case(
            "get-slash-pointless-dot-normalized",
            "GET",
            "/./example",
            "",
            "GET\n/example\n",
            "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
        ),
        case(
            "get-slashes-normalized",
            "GET",
            "//example//",
            "",
            "GET\n/example/\n",
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        ),
        case(
            "get-space-normalized",
            "GET",
            "/example space/",
            "",
            "GET\n/example%20space/\n",
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        ),
        case(
            "get-utf8",
            "GET",
            "/ሴ",
            "",
            "GET\n/%E1%88%B4\n",
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ),
        case(
            "get-vanilla-query-order-key-case",
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            "GET\n/\nParam1=value1&Param2=value2",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        case(
            "get-vanilla-utf8-query",
            "GET",
            "/",
            "ሴ=bar",
            "GET\n/\n%E1%88%B4=bar",
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        ),
        case(
            "post-vanilla-query",
            "POST",
            "/",
            "Param1=value1",
            "POST\n/\nParam1=value1",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        ),
        Case {
            headers: &[("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
            ..case(
                "get-header-key-duplicate",
                "GET",
                "/",
                "",
                "GET\n/\n",
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            )
        },
        Case {
            headers: &[("My-Header1", "value1\n  value2\n     value3")],
            ..case(
                "get-header-value-multiline",
                "GET",
                "/",
                "",
                "GET\n/\n",
                "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd",
            )
        },
        Case {
            headers: &[
                ("My-Header1", "value4"),
                ("My-Header1", "value1"),
                ("My-Header1", "value3"),
                ("My-Header1", "value2"),
            ],
            ..case(
                "get-header-value-order",
                "GET",
                "/",
                "",
                "GET\n/\n",
                "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
            )
        },
        Case {
            headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
            ..case(
                "get-header-value-trim",
                "GET",
                "/",
                "",
                "GET\n/\n",
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            )
        },
        Case {
            headers: &[("My-Header1", "VALUE1")],
            ..case(
                "post-header-value-case",
                "POST",
                "/",
                "",
                "POST\n/\n",
                "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            )
        },
        Case {
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Length", "13"),
                ("X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
            ],
            body: "Param1=value1",
            ..case(
                "post-x-www-form-urlencoded",
                "POST",
                "/",
                "",
                "POST\n/\n",
                "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            )
        },
    ]
}

#[test]
fn the_published_test_suite_signs_and_canonicalises_alike() {
    let key = signing_key(ACCESS_KEY_SECRET, "20150830", "us-east-1", "service");
    for case in cases() {
        let mut sent: Vec<(&str, &[u8])> =
            vec![("Host", b"example.amazonaws.com"), ("X-Amz-Date", AMZ_DATE.as_bytes())];
        sent.extend(case.headers.iter().map(|(name, value)| (*name, value.as_bytes())));
        let mut names: Vec<String> = sent.iter().map(|(name, _)| name.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let headers = canonical_headers(&names, sent.iter().copied()).unwrap();
        let payload_hash = sha256_hex(case.body.as_bytes());
        let parts = CanonicalParts {
            method: case.method,
            path: case.path,
            query: case.query,
            headers: &headers,
            payload_hash: &payload_hash,
        };
        let canonical = canonical_request(&parts);
        assert!(canonical.starts_with(case.canonical_start), "{}: {canonical}", case.name);
        let to_sign = string_to_sign(AMZ_DATE, SCOPE, &canonical);
        assert_eq!(signature(&key, &to_sign), case.signature, "{}: {canonical}", case.name);
        assert!(signature_matches(&key, &to_sign, &unhex(case.signature).unwrap()), "{}", case.name);
    }
}

#[test]
fn the_suite_canonical_requests_read_as_published() {
    let headers = canonical_headers(
        &["host", "my-header1", "my-header2", "x-amz-date"],
        [
            ("Host", b"example.amazonaws.com" as &[u8]),
            ("My-Header1", b" value1"),
            ("My-Header2", b" \"a   b   c\""),
            ("X-Amz-Date", AMZ_DATE.as_bytes()),
        ]
        .into_iter(),
    )
    .unwrap();
    let parts = CanonicalParts { method: "GET", path: "/", query: "", headers: &headers, payload_hash: EMPTY_HASH };
    assert_eq!(
        canonical_request(&parts),
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n\
         host;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let query = format!("{UNRESERVED}={UNRESERVED}");
    assert_eq!(canonical_query(&query), query, "get-vanilla-query-unreserved");
    assert_eq!(canonical_query("Param1=value2&Param1=value1"), "Param1=value1&Param1=value2");
    assert_eq!(canonical_query("b&a="), "a=&b=", "a name without a value signs as name=");
}

#[test]
fn a_path_sent_encoded_is_signed_encoded_twice_as_botocore_does() {
    assert_eq!(canonical_uri("/example%20space/"), "/example%2520space/");
    assert_eq!(canonical_uri("/TraceSegments"), "/TraceSegments");
    assert_eq!(canonical_query("a=%E1%88%B4&b=x%2By"), "a=%E1%88%B4&b=x%2By");
}

#[test]
fn a_missing_signed_header_is_no_canonical_request() {
    let sent = [("Host", b"example.amazonaws.com" as &[u8])];
    assert!(canonical_headers(&["host", "x-amz-date"], sent.into_iter()).is_none());
}

#[test]
fn amz_dates_round_trip() {
    assert_eq!(amz_date(1_440_938_160), AMZ_DATE);
    assert_eq!(parse_amz_date(AMZ_DATE), Some(1_440_938_160));
    assert_eq!(parse_amz_date("20000229T000000Z"), Some(951_782_400));
    assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    for bad in ["", "20150830T123600", "2015083OT123600Z", "20151330T123600Z", "+0150830T123600Z", "20150830T123600Zx"]
    {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
    assert_eq!(unhex("0aFf"), Some(vec![0x0a, 0xff]));
    assert_eq!(unhex("0g"), None);
    assert_eq!(unhex("abc"), None);
}
