//! `http.*`, `url.*` and address attributes, old and new semantic conventions → `HttpSummary`
//! (the exporter's http.go).

use std::net::IpAddr;

use compact_str::CompactString;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;

use super::attributes::{owned, Attributes};
use crate::span::HttpSummary;

/// Any of these makes a span an HTTP span; without one, its `http` stays empty even when it has
/// addresses (a database call has `server.address` too).
pub(super) const HTTP_MARKER_KEYS: &[&str] = &[
    "http.method",
    "http.request.method",
    "http.client_ip",
    "http.user_agent",
    "user_agent.original",
    "http.status_code",
    "http.response.status_code",
    "http.url",
    "url.full",
    "http.scheme",
    "url.scheme",
    "http.host",
    "http.target",
    "http.server_name",
    "net.host.port",
    "url.path",
    "url.query",
];

pub(super) fn http_summary(attributes: Attributes<'_>, kind: OtlpSpanKind) -> HttpSummary {
    if !attributes.has_any(HTTP_MARKER_KEYS) {
        return HttpSummary::default();
    }
    HttpSummary {
        method: owned(attributes.first_str(&["http.request.method", "http.method"])),
        url: request_url(attributes, kind),
        status: attributes
            .first_int(&["http.response.status_code", "http.status_code"])
            .and_then(|status| u16::try_from(status).ok()),
        client_ip: client_ip(attributes, kind),
        user_agent: owned(attributes.first_str(&["user_agent.original", "http.user_agent"])),
    }
}

fn request_url(attributes: Attributes<'_>, kind: OtlpSpanKind) -> Option<String> {
    if let Some(full) = attributes.first_str(&["url.full", "http.url"]) {
        return Some(full.to_owned());
    }
    let (host, port) = match kind {
        OtlpSpanKind::Server => server_host_and_port(attributes)?,
        _ => client_host_and_port(attributes)?,
    };
    let scheme = attributes.first_str(&["url.scheme", "http.scheme"]).unwrap_or("http");
    let mut url = format!("{scheme}://{host}");
    if let Some(port) = port.filter(|port| !is_default_port(scheme, port)) {
        url.push(':');
        url.push_str(&port);
    }
    url.push_str(&request_target(attributes));
    Some(url)
}

/// `http.host` is the `Host` header, port included, so it comes without a separate port.
fn server_host_and_port(attributes: Attributes<'_>) -> Option<(&str, Option<String>)> {
    if let Some(host) = attributes.str("http.host") {
        return Some((host, None));
    }
    let host = attributes.first_str(&["http.server_name", "net.host.name", "host.name", "server.address"])?;
    Some((host, attributes.first_port(&["net.host.port", "server.port"])))
}

fn client_host_and_port(attributes: Attributes<'_>) -> Option<(&str, Option<String>)> {
    if let Some(host) = attributes.str("http.host") {
        return Some((host, None));
    }
    let host = attributes.first_str(&["net.peer.name", "net.peer.ip", "server.address"])?;
    Some((host, attributes.first_port(&["net.peer.port", "server.port", "network.peer.port"])))
}

fn is_default_port(scheme: &str, port: &str) -> bool {
    matches!((scheme, port), ("http", "80") | ("https", "443"))
}

fn request_target(attributes: Attributes<'_>) -> String {
    if let Some(target) = attributes.str("http.target") {
        return target.to_owned();
    }
    let mut target = attributes.str("url.path").unwrap_or("/").to_owned();
    if let Some(query) = attributes.str("url.query") {
        if !query.starts_with('?') {
            target.push('?');
        }
        target.push_str(query);
    }
    target
}

/// The peer address of a server span is the client (or its proxy); of a client span it is the
/// server, so only server spans use it.
fn client_ip(attributes: Attributes<'_>, kind: OtlpSpanKind) -> Option<CompactString> {
    let forwarded =
        attributes.str("http.client_ip").or_else(|| attributes.str("client.address").filter(|ip| is_ip(ip)));
    let peer =
        || attributes.str("net.peer.ip").or_else(|| attributes.str("network.peer.address").filter(|ip| is_ip(ip)));
    owned(forwarded.or_else(|| if kind == OtlpSpanKind::Server { peer() } else { None }))
}

fn is_ip(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;

    use crate::otlp::fixtures::*;
    use crate::span::HttpSummary;

    #[test]
    fn http_old_conventions() {
        let row = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.method", "POST"),
                text("http.url", "https://shop.example.com/orders?id=7"),
                int("http.status_code", 201),
                text("http.client_ip", "203.0.113.9"),
                text("http.user_agent", "curl/8.5"),
            ],
        ));
        assert_eq!(
            row.http,
            HttpSummary {
                method: some("POST"),
                url: some("https://shop.example.com/orders?id=7"),
                status: Some(201),
                client_ip: some("203.0.113.9"),
                user_agent: some("curl/8.5"),
            }
        );
    }

    #[test]
    fn http_new_conventions() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("http.request.method", "GET"),
                text("url.full", "http://inventory:8080/items/3"),
                int("http.response.status_code", 200),
                text("client.address", "10.0.0.4"),
                text("user_agent.original", "okhttp/4.12"),
            ],
        ));
        assert_eq!(
            row.http,
            HttpSummary {
                method: some("GET"),
                url: some("http://inventory:8080/items/3"),
                status: Some(200),
                client_ip: some("10.0.0.4"),
                user_agent: some("okhttp/4.12"),
            }
        );
        assert_eq!(row.name, "inventory");
    }

    #[test]
    fn server_url_is_rebuilt_from_its_parts() {
        let new = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.request.method", "GET"),
                text("url.scheme", "https"),
                text("server.address", "shop.example.com"),
                int("server.port", 8443),
                text("url.path", "/search"),
                text("url.query", "q=socks"),
            ],
        ));
        assert_eq!(new.http.url, some("https://shop.example.com:8443/search?q=socks"));

        let default_port = convert(span(
            OtlpSpanKind::Server,
            vec![text("url.scheme", "https"), text("server.address", "shop.example.com"), int("server.port", 443)],
        ));
        assert_eq!(default_port.http.url, some("https://shop.example.com/"));

        let old = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.scheme", "http"),
                text("http.host", "shop.example.com:8080"),
                text("http.target", "/a?b=c"),
            ],
        ));
        assert_eq!(old.http.url, some("http://shop.example.com:8080/a?b=c"));

        let server_name = convert(span(
            OtlpSpanKind::Server,
            vec![text("http.method", "GET"), text("http.server_name", "shop"), text("net.host.port", "9000")],
        ));
        assert_eq!(server_name.http.url, some("http://shop:9000/"));
    }

    #[test]
    fn client_url_is_rebuilt_from_the_peer() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![text("http.method", "GET"), text("net.peer.name", "payments"), int("net.peer.port", 8081)],
        ));
        assert_eq!(row.http.url, some("http://payments:8081/"));
        assert_eq!(row.name, "payments");
    }

    #[test]
    fn url_is_absent_without_a_host() {
        let row = convert(span(OtlpSpanKind::Server, vec![text("http.request.method", "GET"), text("url.path", "/x")]));
        assert_eq!((row.http.method.as_deref(), row.http.url), (Some("GET"), None));
    }

    #[test]
    fn addresses_alone_do_not_make_an_http_span() {
        let row =
            convert(span(OtlpSpanKind::Client, vec![text("server.address", "db.internal"), int("server.port", 5432)]));
        assert_eq!(row.http, HttpSummary::default());
        assert_eq!(row.name, "db.internal");
    }

    #[test]
    fn peer_address_is_the_client_ip_only_on_server_spans() {
        let attributes = || vec![text("http.request.method", "GET"), text("network.peer.address", "192.0.2.1")];
        assert_eq!(convert(span(OtlpSpanKind::Server, attributes())).http.client_ip, some("192.0.2.1"));
        assert_eq!(convert(span(OtlpSpanKind::Client, attributes())).http.client_ip, None);
        let not_an_ip = vec![text("http.request.method", "GET"), text("client.address", "proxy.local")];
        assert_eq!(convert(span(OtlpSpanKind::Server, not_an_ip)).http.client_ip, None);
    }

    #[test]
    fn status_code_sent_as_text_is_read() {
        let row = convert(span(OtlpSpanKind::Server, vec![text("http.response.status_code", "503")]));
        assert_eq!(row.http.status, Some(503));
        assert!(row.fault);
    }
}
