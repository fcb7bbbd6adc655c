//! The parts of AWS Signature Version 4 that signer and verifier share: the canonical request,
//! the string to sign, the derived signing key and the `x-amz-date` timestamp.
//!
//! - The canonical URI is the path as sent on the wire, dot segments and repeated slashes
//!   removed, then URI-encoded once more (every service but S3 signs the path encoded twice,
//!   which is what botocore and the AWS SDKs do for `xray` and `monitoring`).
//! - The canonical query is each parameter decoded and encoded again strictly (RFC 3986
//!   unreserved characters only), sorted by name, then value.
//! - Header values are trimmed and runs of white space folded to one space; repeated headers
//!   are joined with `,` in the order sent.
//!
//! Checked against AWS's published SigV4 test suite in the tests below.

use chrono::{DateTime, NaiveDateTime};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm verified and signed.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every credential scope.
pub(crate) const SCOPE_TERMINATOR: &str = "aws4_request";

type HmacSha256 = Hmac<Sha256>;

/// What a request is signed over, the payload already hashed.
#[derive(Debug)]
pub(crate) struct CanonicalParts<'a> {
    pub(crate) method: &'a str,
    /// The path as on the wire (still percent-encoded).
    pub(crate) path: &'a str,
    /// The query string as on the wire, without `?`.
    pub(crate) query: &'a str,
    /// The signed headers: lower-case names, sorted, each with its canonical value.
    pub(crate) headers: &'a [(String, String)],
    /// Hex SHA-256 of the body.
    pub(crate) payload_hash: &'a str,
}

/// The canonical request of SigV4 (task 1).
pub(crate) fn canonical_request(parts: &CanonicalParts<'_>) -> String {
    let mut text = String::with_capacity(256);
    text.push_str(parts.method);
    text.push('\n');
    text.push_str(&canonical_uri(parts.path));
    text.push('\n');
    text.push_str(&canonical_query(parts.query));
    text.push('\n');
    for (name, value) in parts.headers {
        text.push_str(name);
        text.push(':');
        text.push_str(value);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&signed_header_names(parts.headers));
    text.push('\n');
    text.push_str(parts.payload_hash);
    text
}

/// `host;x-amz-date;…`: the names of the signed headers, as the Authorization header lists them.
pub(crate) fn signed_header_names(headers: &[(String, String)]) -> String {
    headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";")
}

/// The string to sign (task 2).
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The key derived from the secret for one day, region and service (task 3).
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let date_key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    hmac_sha256(&service_key, SCOPE_TERMINATOR.as_bytes())
}

/// The hex signature of `string_to_sign` (task 4).
pub(crate) fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// Whether `presented` (raw bytes of a hex signature) is the signature of `string_to_sign`,
/// compared in time that does not depend on where they differ (`Mac::verify_slice`).
pub(crate) fn signature_matches(signing_key: &[u8; 32], string_to_sign: &str, presented: &[u8]) -> bool {
    let mut mac = hmac_with_key(signing_key);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(presented).is_ok()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_with_key(key);
    mac.update(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn hmac_with_key(key: &[u8]) -> HmacSha256 {
    // HMAC hashes a long key and pads a short one: every length is valid.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

/// The bytes of a lower-case or upper-case hex string; `None` when it is not one.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((char::from(pair[0]).to_digit(16)? * 16 + char::from(pair[1]).to_digit(16)?) as u8))
        .collect()
}

/// The path with `.` and `..` segments resolved and empty segments dropped, encoded again.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = format!("/{}", segments.join("/"));
    let ends_in_directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if ends_in_directory && !segments.is_empty() {
        normalized.push('/');
    }
    uri_encode(normalized.as_bytes(), true)
}

/// Parameters decoded, encoded strictly and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name), false), uri_encode(&percent_decode(value), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// The signed headers with their canonical values, in the order of `signed` (sorted names):
/// every value a header was sent with, in order, joined by `,`. `None` when one is missing.
pub(crate) fn canonical_headers<'a>(
    signed: &[&str],
    sent: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
) -> Option<Vec<(String, String)>> {
    signed
        .iter()
        .map(|name| {
            let values: Vec<String> = sent
                .clone()
                .filter(|(sent_name, _)| sent_name.eq_ignore_ascii_case(name))
                .map(|(_, value)| canonical_header_value(value))
                .collect();
            (!values.is_empty()).then(|| (name.to_ascii_lowercase(), values.join(",")))
        })
        .collect()
}

/// A header value as signed: trimmed, runs of white space (folded lines too) as one space.
fn canonical_header_value(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every byte but `A–Z a–z 0–9 - . _ ~` (and `/` when `keep_slash`) as `%XX`.
fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &byte in bytes {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        if unreserved || (keep_slash && byte == b'/') {
            text.push(char::from(byte));
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}

/// `%XX` sequences as bytes; anything else (a stray `%` too) as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok())
            .flatten()
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    decoded
}

/// `20150830T123600Z` for a time in seconds since the Unix epoch.
pub(crate) fn amz_date(unix_seconds: i64) -> String {
    DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default().format("%Y%m%dT%H%M%SZ").to_string()
}

/// Seconds since the Unix epoch of an `x-amz-date` (`YYYYMMDDTHHMMSSZ`); `None` if malformed.
pub(crate) fn parse_amz_date(text: &str) -> Option<i64> {
    let fixed_width =
        text.len() == 16 && text.bytes().enumerate().all(|(at, byte)| at == 8 || at == 15 || byte.is_ascii_digit());
    let time = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").ok().filter(|_| fixed_width)?;
    Some(time.and_utc().timestamp())
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
