//! Signing what a sidecar sends to a central Fluoro that asks for SigV4.
//!
//! The sidecar reads its key from the variables every AWS tool reads (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION`), signs
//! `host` and `x-amz-date` (and the session token when there is one) for the `xray` service,
//! over the body's SHA-256: the same canonical request the verifier builds (`canonical.rs`).
//! The `Host` header is set explicitly, so what is signed is what is sent.

use std::time::{SystemTime, UNIX_EPOCH};

use super::canonical::{
    amz_date, canonical_request, sha256_hex, signature, signed_header_names, signing_key, string_to_sign,
    CanonicalParts, ALGORITHM, SCOPE_TERMINATOR,
};

/// The service the sidecar's calls belong to.
const SERVICE: &str = "xray";
/// The region signed when none is set: the verifier accepts any.
const DEFAULT_REGION: &str = "us-east-1";

/// An access key to sign with.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "AwsCredentials({}, {})", self.access_key_id, self.region)
    }
}

impl AwsCredentials {
    pub fn new(access_key_id: &str, secret_access_key: &str, region: &str) -> AwsCredentials {
        AwsCredentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: None,
            region: region.to_owned(),
        }
    }

    /// The key in `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, when both are set.
    pub fn from_env() -> Option<AwsCredentials> {
        let variable = |name| std::env::var(name).ok().filter(|value: &String| !value.trim().is_empty());
        let region = variable("AWS_REGION").or_else(|| variable("AWS_DEFAULT_REGION"));
        Some(AwsCredentials {
            access_key_id: variable("AWS_ACCESS_KEY_ID")?.trim().to_owned(),
            secret_access_key: variable("AWS_SECRET_ACCESS_KEY")?.trim().to_owned(),
            session_token: variable("AWS_SESSION_TOKEN"),
            region: region.unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        })
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
}

/// `request` (a `POST` of `body` to `url`) with the headers of its signature, signed now.
pub(crate) fn sign_request(
    request: reqwest::RequestBuilder,
    url: &str,
    body: &[u8],
    credentials: Option<&AwsCredentials>,
) -> reqwest::RequestBuilder {
    let Some(credentials) = credentials else { return request };
    let Ok(url) = reqwest::Url::parse(url) else { return request };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64);
    signature_headers(&url, body, credentials, now)
        .into_iter()
        .fold(request, |request, (name, value)| request.header(name, value))
}

/// The headers that sign a `POST` of `body` to `url` at `now` (seconds since the epoch).
pub(crate) fn signature_headers(
    url: &reqwest::Url,
    body: &[u8],
    credentials: &AwsCredentials,
    now: i64,
) -> Vec<(&'static str, String)> {
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let date = amz_date(now);
    let mut headers = vec![("host".to_owned(), host.clone()), ("x-amz-date".to_owned(), date.clone())];
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    let payload_hash = sha256_hex(body);
    let canonical = canonical_request(&CanonicalParts {
        method: "POST",
        path: url.path(),
        query: url.query().unwrap_or(""),
        headers: &headers,
        payload_hash: &payload_hash,
    });
    let scope = format!("{}/{}/{SERVICE}/{SCOPE_TERMINATOR}", &date[..8], credentials.region);
    let key = signing_key(&credentials.secret_access_key, &date[..8], &credentials.region, SERVICE);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={}",
        credentials.access_key_id,
        signed_header_names(&headers),
        signature(&key, &string_to_sign(&date, &scope, &canonical))
    );
    let mut signed = vec![("host", host), ("x-amz-date", date), ("authorization", authorization)];
    if let Some(token) = &credentials.session_token {
        signed.push(("x-amz-security-token", token.clone()));
    }
    signed
}
