//! The optional bearer token of the HTTP API port (`fluoro serve --api-token-file`).
//!
//! With a token set, every request on the port must carry it, as `Authorization: Bearer …`
//! (the `trace` CLI, scripts) or as the `fluoro_token` cookie a browser gets from the login page
//! (`GET /login`, `POST /login`: HttpOnly, SameSite=Strict, so no other site's page can use it).
//! Open without it: what SDKs send while they trace ([`OPEN_PATHS`]: segments, telemetry,
//! sampling), which the UDP port and the OTLP ports accept without a token anyway, and the
//! login page itself. With SigV4 keys configured too (`sigv4.rs`), a verified signature stands
//! for the token, and the SDK paths want one or the other. A browser asking for a page without the token is sent to the login page;
//! anything else is answered 401 with `WWW-Authenticate: Bearer`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
    WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::CollectorError;
use crate::sigv4::{check_signature, SignatureCheck, SignatureVerified};

/// Paths an SDK writes to while it traces; they stay open to unsigned requests, as the UDP and
/// OTLP ports are, unless SigV4 keys are configured (then a signature or the token is needed).
pub const OPEN_PATHS: &[&str] = &["/TraceSegments", "/TelemetryRecords", "/GetSamplingRules", "/SamplingTargets"];

/// The cookie the login page sets.
const COOKIE_NAME: &str = "fluoro_token";
/// Shorter tokens are guessable; longer ones do not fit a header comfortably.
const MIN_TOKEN_CHARS: usize = 16;
const MAX_TOKEN_CHARS: usize = 512;
/// The login form's body: one token.
const MAX_LOGIN_BODY_BYTES: usize = 4096;
/// The login page loads nothing and runs no script.
const LOGIN_CSP: &str = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A validated API token.
#[derive(Clone)]
pub struct ApiToken(Arc<str>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ApiToken(…)")
    }
}

impl ApiToken {
    /// The token as read from its file or variable, surrounding white space removed. It must be
    /// 16–512 characters of `A–Z a–z 0–9 - . _ ~ + / =` (what fits a header and a cookie as is).
    pub fn new(text: &str) -> Result<ApiToken, CollectorError> {
        let token = text.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
        if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&token.len()) || !token.chars().all(allowed) {
            return Err(CollectorError::InvalidConfig(format!(
                "the API token must be {MIN_TOKEN_CHARS}-{MAX_TOKEN_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / = \
                 (e.g. `openssl rand -hex 32`)"
            )));
        }
        Ok(ApiToken(token.into()))
    }

    /// The token itself, for a Fluoro that calls another with it (a query node its collectors).
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the token, in time that does not depend on where they differ.
    fn matches(&self, presented: &str) -> bool {
        let (expected, presented) = (self.0.as_bytes(), presented.as_bytes());
        expected.len() == presented.len()
            && expected.iter().zip(presented).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
    }
}

/// `router` behind the token (when there is one), with the login page beside it, and behind
/// the SigV4 check (when keys are configured), which runs first: a request it verified needs
/// no token (`sigv4.rs` says which requests it refuses).
pub(crate) fn guard(router: Router, token: Option<ApiToken>, signatures: Option<SignatureCheck>) -> Router {
    let router = match token {
        Some(token) => {
            let login = Router::new().route("/login", get(login_page).post(log_in)).with_state(token.clone());
            router.layer(axum::middleware::from_fn_with_state(token, require_token)).merge(login)
        }
        None => router,
    };
    match signatures {
        Some(check) => router.layer(axum::middleware::from_fn_with_state(check, check_signature)),
        None => router,
    }
}

async fn require_token(State(token): State<ApiToken>, request: Request, next: Next) -> Response {
    let signed = request.extensions().get::<SignatureVerified>().is_some();
    if signed || OPEN_PATHS.contains(&request.uri().path()) || presented_token(request.headers(), &token) {
        return next.run(request).await;
    }
    if request.method() == Method::GET && wants_html(request.headers()) {
        return (StatusCode::SEE_OTHER, [(LOCATION, "/login")]).into_response();
    }
    let body = json!({"__type": "UnauthorizedException",
                      "message": "this server requires its API token: send `Authorization: Bearer <token>` \
                                  (the trace CLI reads FLUORO_API_TOKEN or FLUORO_API_TOKEN_FILE)"});
    (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, "Bearer realm=\"fluoro\"")], Json(body)).into_response()
}

/// Whether the request carries the token, as a bearer credential or as the login cookie.
pub(crate) fn presented_token(headers: &HeaderMap, token: &ApiToken) -> bool {
    let bearer = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok()?.strip_prefix("Bearer "))
        .any(|presented| token.matches(presented.trim()));
    bearer
        || headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|cookie| cookie.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
            .any(|presented| token.matches(presented))
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login_page() -> Response {
    page(StatusCode::OK, "")
}

async fn log_in(State(token): State<ApiToken>, body: axum::body::Bytes) -> Response {
    let form =
        (body.len() <= MAX_LOGIN_BODY_BYTES).then(|| serde_urlencoded::from_bytes::<LoginForm>(&body).ok()).flatten();
    match form {
        Some(form) if token.matches(form.token.trim()) => {
            let cookie = format!("{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/", form.token.trim());
            let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, cookie);
            }
            response
        }
        _ => page(StatusCode::UNAUTHORIZED, "<p role=\"alert\">That is not this server's token.</p>"),
    }
}

/// The login page: a form and nothing else (`notice` is fixed text, never request data).
fn page(status: StatusCode, notice: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fluoro: log in</title></head>\
         <body><h1>Fluoro</h1><p>This server asks for its API token.</p>{notice}\
         <form method=\"post\" action=\"/login\"><label>API token \
         <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required></label> \
         <button type=\"submit\" id=\"log-in\">Log in</button></form></body></html>"
    );
    let mut response = (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(LOGIN_CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_for_length_and_characters() {
        assert!(ApiToken::new("short").is_err());
        assert!(ApiToken::new("0123456789abcdef;x").is_err());
        assert!(ApiToken::new(&"a".repeat(513)).is_err());
        let token = ApiToken::new(" 0123456789abcdef\n").unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!token.matches("0123456789abcde"));
    }

    #[test]
    fn the_token_is_read_from_the_bearer_header_or_the_login_cookie() {
        let token = ApiToken::new("0123456789abcdef").unwrap();
        let headers = |name, value: &str| {
            let mut map = HeaderMap::new();
            map.insert(name, HeaderValue::from_str(value).unwrap());
            map
        };
        assert!(presented_token(&headers(AUTHORIZATION, "Bearer 0123456789abcdef"), &token));
        assert!(!presented_token(&headers(AUTHORIZATION, "Basic 0123456789abcdef"), &token));
        assert!(presented_token(&headers(COOKIE, "theme=dark; fluoro_token=0123456789abcdef"), &token));
        assert!(!presented_token(&headers(COOKIE, "fluoro_tokenx=0123456789abcdef"), &token));
        assert!(!presented_token(&HeaderMap::new(), &token));
    }
}
