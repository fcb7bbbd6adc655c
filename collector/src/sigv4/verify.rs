//! Verifying the SigV4 signature of a request to the HTTP API port.
//!
//! - Only the `Authorization: AWS4-HMAC-SHA256 …` header form (what the AWS CLI, boto3 and the
//!   AWS SDKs send); a presigned URL (`X-Amz-Signature` in the query) counts as unsigned.
//! - The signed headers must include `host` and `x-amz-date`, so neither can be changed; at
//!   most [`MAX_SIGNED_HEADERS`] of them, and the `Authorization` header at most
//!   [`MAX_AUTHORIZATION_BYTES`].
//! - The body is read once, within the API's body limit (`[limits] request_body_bytes`, 413
//!   above it as everywhere else), hashed once and handed on; an `x-amz-content-sha256` header
//!   must be that hash (`UNSIGNED-PAYLOAD` is an S3 convention and refused).
//! - Refusals, as AWS words them (botocore raises `ClientError` with these codes): 403
//!   `MissingAuthenticationTokenException` (unsigned), `IncompleteSignatureException`
//!   (malformed), `UnrecognizedClientException` (unknown access key), `InvalidSignatureException`
//!   (wrong signature, wrong service, expired or future `x-amz-date`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fluoro_proto::{xray_error_body, XRAY_ERROR_TYPE_HEADER};

use super::canonical::{
    amz_date, canonical_headers, canonical_request, parse_amz_date, sha256_hex, signature_matches, signing_key,
    string_to_sign, unhex, CanonicalParts, ALGORITHM, SCOPE_TERMINATOR,
};
use super::SigV4Keys;
use crate::api_token::{presented_token, ApiToken};
use crate::body_limit::{collect_within, BodyProblem};

/// The services whose operations the port serves: X-Ray, and CloudWatch's alarms.
const SERVICES: &[&str] = &["xray", "monitoring"];
/// How far `x-amz-date` may be from the server's clock, either way (AWS's 5 minutes).
const MAX_SKEW_SECONDS: i64 = 5 * 60;
const MAX_AUTHORIZATION_BYTES: usize = 4096;
const MAX_SIGNED_HEADERS: usize = 64;

/// What the signature check of the API port knows.
#[derive(Debug, Clone)]
pub(crate) struct SignatureCheck {
    pub(crate) keys: SigV4Keys,
    /// The request body limit of the API (`[limits] request_body_bytes`).
    pub(crate) max_body_bytes: usize,
    /// With a token too, an unsigned AWS operation may carry it instead.
    pub(crate) token: Option<ApiToken>,
}

/// Put on a request whose signature was verified: the token check lets it through.
#[derive(Debug, Clone)]
pub(crate) struct SignatureVerified;

/// Middleware: verifies a signed request, refuses an unsigned AWS operation, passes the rest on.
pub(crate) async fn check_signature(State(check): State<SignatureCheck>, request: Request, next: Next) -> Response {
    if signed(request.headers()) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64);
        return match verify(&check, request, now).await {
            Ok(mut request) => {
                request.extensions_mut().insert(SignatureVerified);
                next.run(request).await
            }
            Err(refusal) => refusal.into_response(),
        };
    }
    let token_presented = check.token.as_ref().is_some_and(|token| presented_token(request.headers(), token));
    if is_aws_operation(request.uri().path()) && !token_presented {
        return Refusal::Missing.into_response();
    }
    next.run(request).await
}

fn signed(headers: &HeaderMap) -> bool {
    headers.get_all(AUTHORIZATION).iter().any(|value| value.as_bytes().starts_with(ALGORITHM.as_bytes()))
}

/// The AWS operations' paths start with a capital letter (`/TraceSegments`, `/GetSamplingRules`,
/// `/PutMetricAlarm`); the dashboard's pages, its assets, `/api/…`, `/metrics` and `/login` with
/// a lower-case one. Anything else (`/%54races`, `//Traces`) is taken for an operation too: a
/// path the rule did not foresee is refused unsigned rather than let through.
fn is_aws_operation(path: &str) -> bool {
    let first = path.strip_prefix('/').and_then(|rest| rest.chars().next());
    first.is_some_and(|first| !first.is_ascii_lowercase())
}

/// Why a request was refused.
#[derive(Debug, PartialEq)]
enum Refusal {
    Missing,
    Incomplete(String),
    UnknownKey,
    Invalid(String),
    Body(BodyProblem),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, error_type, message) = match self {
            Refusal::Missing => (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException", "Missing Authentication Token: this server requires requests signed with AWS Signature Version 4 (or its API token)".to_owned()),
            Refusal::Incomplete(message) => (StatusCode::FORBIDDEN, "IncompleteSignatureException", message),
            Refusal::UnknownKey => (StatusCode::FORBIDDEN, "UnrecognizedClientException", "The security token included in the request is invalid.".to_owned()),
            Refusal::Invalid(message) => (StatusCode::FORBIDDEN, "InvalidSignatureException", message),
            Refusal::Body(problem) => return crate::xray_api::body_problem(problem),
        };
        (status, [(XRAY_ERROR_TYPE_HEADER, error_type)], axum::Json(xray_error_body(error_type, &message)))
            .into_response()
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
                        Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, PartialEq)]
struct Authorization {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
}

impl Authorization {
    fn scope(&self) -> String {
        format!("{}/{}/{}/{SCOPE_TERMINATOR}", self.date, self.region, self.service)
    }
}

/// The request with its body read, when its signature holds.
async fn verify(check: &SignatureCheck, request: Request, now: i64) -> Result<Request, Refusal> {
    let authorization = parse_authorization(request.headers())?;
    if !SERVICES.contains(&authorization.service.as_str()) {
        return Err(Refusal::Invalid(format!(
            "Credential should be scoped to correct service: one of {SERVICES:?}, not '{}'.",
            authorization.service
        )));
    }
    let secret = check.keys.secret(&authorization.access_key_id).ok_or(Refusal::UnknownKey)?.to_owned();
    let sent_date = request_date(request.headers(), &authorization, now)?;
    let (parts, body) = request.into_parts();
    let body = collect_within(&parts.headers, body, check.max_body_bytes).await.map_err(Refusal::Body)?;
    let payload_hash = sha256_hex(&body);
    if let Some(declared) = parts.headers.get("x-amz-content-sha256") {
        if declared.as_bytes() != payload_hash.as_bytes() {
            return Err(Refusal::Invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned(),
            ));
        }
    }
    let names: Vec<&str> = authorization.signed_headers.iter().map(String::as_str).collect();
    let mut sent: Vec<(&str, &[u8])> =
        parts.headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())).collect();
    // HTTP/2 sends the host as the `:authority` pseudo-header, which hyper keeps in the URI.
    let authority = parts.uri.authority().filter(|_| !parts.headers.contains_key(HOST));
    if let Some(authority) = authority {
        sent.push(("host", authority.as_str().as_bytes()));
    }
    let headers =
        canonical_headers(&names, sent.iter().copied()).ok_or_else(|| Refusal::Invalid(MISMATCH.to_owned()))?;
    let canonical = canonical_request(&CanonicalParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        payload_hash: &payload_hash,
    });
    let to_sign = string_to_sign(&sent_date, &authorization.scope(), &canonical);
    let key = signing_key(&secret, &authorization.date, &authorization.region, &authorization.service);
    if !signature_matches(&key, &to_sign, &authorization.signature) {
        return Err(Refusal::Invalid(MISMATCH.to_owned()));
    }
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// The `x-amz-date`, when it is the scope's day and within [`MAX_SKEW_SECONDS`] of `now`.
fn request_date(headers: &HeaderMap, authorization: &Authorization, now: i64) -> Result<String, Refusal> {
    let text = headers.get("x-amz-date").and_then(|value| value.to_str().ok()).unwrap_or("");
    let sent = parse_amz_date(text).ok_or_else(|| {
        Refusal::Incomplete(
            "Authorization header requires existence of a valid 'X-Amz-Date' header (YYYYMMDDTHHMMSSZ).".to_owned(),
        )
    })?;
    if text[..8] != authorization.date {
        return Err(Refusal::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            authorization.date,
            &text[..8]
        )));
    }
    if sent < now - MAX_SKEW_SECONDS {
        let limit = amz_date(now - MAX_SKEW_SECONDS);
        return Err(Refusal::Invalid(format!(
            "Signature expired: {text} is now earlier than {limit} ({} - 5 min.)",
            amz_date(now)
        )));
    }
    if sent > now + MAX_SKEW_SECONDS {
        let limit = amz_date(now + MAX_SKEW_SECONDS);
        return Err(Refusal::Invalid(format!(
            "Signature not yet current: {text} is still later than {limit} ({} + 5 min.)",
            amz_date(now)
        )));
    }
    Ok(text.to_owned())
}

fn parse_authorization(headers: &HeaderMap) -> Result<Authorization, Refusal> {
    let incomplete = |what: &str| Refusal::Incomplete(format!("Authorization header is malformed: {what}"));
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(incomplete("send exactly one Authorization header"));
    };
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(incomplete(&format!("longer than {MAX_AUTHORIZATION_BYTES} bytes")));
    }
    let text = value.to_str().map_err(|_| incomplete("not ASCII"))?;
    let fields = text
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| incomplete("unknown algorithm"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',').map(str::trim) {
        match field.split_once('=') {
            Some(("Credential", value)) => credential = Some(value),
            Some(("SignedHeaders", value)) => signed_headers = Some(value),
            Some(("Signature", value)) => signature = Some(value),
            _ => return Err(incomplete(&format!("unexpected field {:?}", field.chars().take(40).collect::<String>()))),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        return Err(incomplete("Credential, SignedHeaders and Signature are all required"));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, SCOPE_TERMINATOR] = scope[..] else {
        return Err(incomplete("Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request"));
    };
    let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    let well_formed = signed_headers.len() <= MAX_SIGNED_HEADERS
        && signed_headers.windows(2).all(|pair| pair[0] < pair[1])
        && signed_headers
            .iter()
            .all(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()));
    if !well_formed
        || !signed_headers.iter().any(|name| name == "host")
        || !signed_headers.iter().any(|name| name == "x-amz-date")
    {
        return Err(incomplete(&format!(
            "SignedHeaders must be at most {MAX_SIGNED_HEADERS} sorted lower-case names including host and x-amz-date"
        )));
    }
    let signature = unhex(signature)
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| incomplete("Signature must be 64 hex digits"))?;
    Ok(Authorization {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature,
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
