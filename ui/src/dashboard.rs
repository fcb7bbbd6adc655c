//! The dashboard: a few ES modules, one stylesheet and one HTML shell, compiled into the binary
//! and served on the API's port, so `cargo build` alone produces a working dashboard.
//!
//! - Page paths (`/`, `/traces`, `/traces/{id}`, `/logs`, `/analytics`, `/groups`, `/sampling`, `/alarms`,
//!   `/insights`) all
//!   answer the same shell, `assets/index.html`; `app.js` picks the page from the path, so a
//!   copied link reopens the same view. They are `GET` routes: axum matches paths
//!   case-sensitively, so `GET /traces` never meets the X-Ray `POST /Traces`.
//! - Assets are under `/assets/`, from the static table [`ASSETS`] (`include_bytes!`: lighter
//!   than a derive crate for a dozen files; a unit test keeps the table and the folder equal).
//! - Every dashboard answer carries a strict Content-Security-Policy: scripts and styles only
//!   from this origin, nothing inline, so a string from a segment that slipped into markup
//!   could not run; and `X-Content-Type-Options: nosniff`.
//! - `Cache-Control: no-cache`: the assets change with the binary and have no hashed names.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The policy of every dashboard answer: see the module comment.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// One embedded file, by its path under `ui/assets/`.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal) => {
        Asset { path: $path, bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)) }
    };
}

/// Every file the browser may ask for. Add a file here when you add it under `ui/assets/`.
const ASSETS: &[Asset] = &[
    asset!("index.html"),
    asset!("dashboard.css"),
    asset!("app.js"),
    asset!("api.js"),
    asset!("dom.js"),
    asset!("format.js"),
    asset!("time_range.js"),
    asset!("live.js"),
    asset!("scenario.js"),
    asset!("charts.js"),
    asset!("map.js"),
    asset!("panel.js"),
    asset!("traces.js"),
    asset!("timeline.js"),
    asset!("log_line.js"),
    asset!("logs.js"),
    asset!("analytics.js"),
    asset!("groups.js"),
    asset!("sampling.js"),
    asset!("alarms.js"),
    asset!("insights.js"),
    asset!("favicon.svg"),
    asset!("vendor/dagre.esm.js"),
    asset!("vendor/uPlot.esm.js"),
    asset!("vendor/uPlot.min.css"),
];

/// The dashboard's pages and assets; merge it beside [`api_router`](crate::api_router).
pub fn dashboard_router() -> Router {
    Router::new()
        .route("/", get(shell))
        .route("/traces", get(shell))
        .route("/traces/{trace_id}", get(shell))
        .route("/logs", get(shell))
        .route("/analytics", get(shell))
        .route("/groups", get(shell))
        .route("/sampling", get(shell))
        .route("/alarms", get(shell))
        .route("/insights", get(shell))
        .route("/assets/{*path}", get(asset))
        .route("/favicon.ico", get(favicon))
}

async fn shell() -> Response {
    asset_response("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    asset_response(&path)
}

async fn favicon() -> Response {
    asset_response("favicon.svg")
}

fn asset_response(path: &str) -> Response {
    let found = ASSETS.iter().find(|asset| asset.path == path);
    let mut response = match found {
        Some(asset) => ([(CONTENT_TYPE, content_type(asset.path))], asset.bytes).into_response(),
        None => (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "text/plain; charset=utf-8")], "no such dashboard file")
            .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// With `nosniff` the browser runs a module only if its type says JavaScript.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files a browser loads, relative to `ui/assets/`; licenses and the refresh script are not served.
    fn served_files(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                served_files(&entry.path(), &format!("{name}/"), out);
            } else if ["html", "js", "css", "svg"].iter().any(|extension| name.ends_with(&format!(".{extension}"))) {
                out.push(name);
            }
        }
    }

    #[test]
    fn the_asset_table_holds_exactly_the_files_under_assets() {
        let mut on_disk = Vec::new();
        served_files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"), "", &mut on_disk);
        on_disk.sort();
        let mut in_table: Vec<String> = ASSETS.iter().map(|asset| asset.path.to_owned()).collect();
        in_table.sort();
        assert_eq!(in_table, on_disk);
    }

    #[test]
    fn scripts_are_served_as_javascript() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("vendor/uPlot.min.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
