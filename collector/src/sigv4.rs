//! Optional AWS Signature Version 4 on the HTTP API port (`fluoro serve --sigv4-keys-file`),
//! and the signature a sidecar puts on what it forwards.
//!
//! With keys configured, every AWS operation on the port (a path starting with a capital
//! letter, or with anything but a lower-case one: `/TraceSegments`, `/Traces`, `/TraceSummaries`, `/ServiceGraph`,
//! `/GetSamplingRules`, `/SamplingTargets`, the groups, insights and alarm operations…) must
//! carry a valid signature, as the AWS CLI and boto3 send it, or the bearer token when one is
//! configured. A request that carries a signature on any other route (`/api/…`, `/metrics`) is
//! verified too and passes the token check when valid. Unsigned, those routes answer to the
//! token alone (`api_token.rs`).
//!
//! - `verify.rs`: the `Authorization` header, the credential scope (`xray` or `monitoring`,
//!   any region), the `x-amz-date` within 5 minutes of the server's clock, the payload hashed
//!   once within the `[limits]` body limit, the signature compared in constant time; refusals
//!   are 403 in the AWS JSON error shape, so botocore raises the `ClientError` AWS would.
//! - `sign.rs`: the sidecar (`fluoro daemon --forward`) signs its `PutTraceSegments` and the
//!   sampling calls it relays with the usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
//! - `canonical.rs`: what both share, checked against AWS's published test suite.
//!
//! The keys file holds one key a line, `ACCESS_KEY_ID SECRET_ACCESS_KEY`; blank lines and
//! lines starting with `#` are skipped.

mod canonical;
mod sign;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::CollectorError;

pub(crate) use sign::sign_request;
pub use sign::AwsCredentials;
pub(crate) use verify::{check_signature, SignatureCheck, SignatureVerified};

/// AWS access key ids are 16–128 characters of A–Z 0–9 (we accept lower case too).
const ACCESS_KEY_ID_CHARS: std::ops::RangeInclusive<usize> = 16..=128;
/// Shorter secrets are guessable; AWS's are 40 characters.
const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=128;
/// A keys file is read whole at start: this bounds it.
const MAX_KEYS: usize = 10_000;

/// The access keys a signature may be made with: access key id → secret access key.
#[derive(Clone)]
pub struct SigV4Keys(Arc<HashMap<String, String>>);

impl std::fmt::Debug for SigV4Keys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "SigV4Keys({} keys)", self.0.len())
    }
}

impl SigV4Keys {
    /// The keys of a keys file's text: `ACCESS_KEY_ID SECRET_ACCESS_KEY` a line.
    pub fn parse(text: &str) -> Result<SigV4Keys, CollectorError> {
        let mut keys = HashMap::new();
        let lines =
            text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty() && !line.trim().starts_with('#'));
        for (index, line) in lines {
            let (id, secret) = parse_key_line(line).map_err(|problem| {
                CollectorError::InvalidConfig(format!("SigV4 keys file, line {}: {problem}", index + 1))
            })?;
            if keys.insert(id.to_owned(), secret.to_owned()).is_some() {
                return Err(CollectorError::InvalidConfig(format!(
                    "SigV4 keys file, line {}: access key id {id} is given twice",
                    index + 1
                )));
            }
        }
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(CollectorError::InvalidConfig(format!(
                "the SigV4 keys file must hold 1 to {MAX_KEYS} keys, one `ACCESS_KEY_ID SECRET_ACCESS_KEY` a line; it holds {}",
                keys.len()
            )));
        }
        Ok(SigV4Keys(Arc::new(keys)))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never empty: [`SigV4Keys::parse`] refuses a file without keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.0.get(access_key_id).map(String::as_str)
    }
}

/// One line's access key id and secret, or what is wrong with it (never the secret itself).
fn parse_key_line(line: &str) -> Result<(&str, &str), String> {
    let mut fields = line.split_whitespace();
    let (Some(id), Some(secret), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`".to_owned());
    };
    if !ACCESS_KEY_ID_CHARS.contains(&id.len()) || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("the access key id must be 16-128 characters of A-Z 0-9, not {id:?}"));
    }
    if !SECRET_CHARS.contains(&secret.len()) || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!("the secret of {id} must be 16-128 printable characters without spaces"));
    }
    Ok((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_files_are_read_and_checked() {
        let keys = SigV4Keys::parse(
            "# fluoro keys\n\nAKIDEXAMPLE00001 wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n  AKIDEXAMPLE00002\tsecret-secret-secret \n",
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.secret("AKIDEXAMPLE00002"), Some("secret-secret-secret"));
        assert!(format!("{keys:?}").contains("2 keys") && !format!("{keys:?}").contains("secret"));
        for (bad, says) in [
            ("", "1 to 10000 keys"),
            ("AKIDEXAMPLE00001", "line 1: expected"),
            ("\nAKIDEXAMPLE00001 short", "line 2: the secret"),
            ("AKID/EXAMPLE00001 wJalrXUtnFEMI/K7MDENG+bPxRfiCY", "access key id must"),
            ("AKIDEXAMPLE00001 a-secret-of-16-chars x", "expected"),
            ("AKIDEXAMPLE00001 wJalrXUtnFEMI/K7MDENG\nAKIDEXAMPLE00001 wJalrXUtnFEMI/K7MDENG", "given twice"),
        ] {
            let error = SigV4Keys::parse(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad:?}: {error}");
            assert!(!error.contains("wJalr"), "a secret in an error message: {error}");
        }
    }
}
