//! The `sql_url` of calls to SQL databases (the exporter's sql.go), and the URL parsing that
//! keeps credentials out of it.

use super::attributes::Attributes;

/// The exporter's `isSQL` list, plus SQL databases it misses and the newer `db.system.name` values.
const SQL_SYSTEMS: &[&str] = &[
    "db2",
    "derby",
    "hive",
    "mariadb",
    "mssql",
    "mysql",
    "oracle",
    "postgresql",
    "sqlite",
    "teradata",
    "other_sql",
    "cockroachdb",
    "h2",
    "h2database",
    "hsqldb",
    "redshift",
    "trino",
    "clickhouse",
    "microsoft.sql_server",
    "oracle.db",
    "ibm.db2",
    "sap.hana",
];

pub(super) fn sql_url(attributes: Attributes<'_>) -> Option<String> {
    let system = attributes.first_str(&["db.system.name", "db.system"])?;
    if !SQL_SYSTEMS.contains(&system) {
        return None;
    }
    let database = attributes.first_str(&["db.namespace", "db.name"]);
    let from_connection_string =
        attributes.str("db.connection_string").and_then(|text| UrlParts::parse(strip_jdbc(text)));
    Some(match from_connection_string {
        Some(url) => url.to_sanitized_url(database),
        None => sql_url_from_server_address(system, attributes, database),
    })
}

pub(super) fn strip_jdbc(connection_string: &str) -> &str {
    connection_string.strip_prefix("jdbc:").unwrap_or(connection_string)
}

fn sql_url_from_server_address(system: &str, attributes: Attributes<'_>, database: Option<&str>) -> String {
    let host = attributes.first_str(&["server.address", "net.peer.name"]).unwrap_or("localhost");
    let mut url = format!("{system}://{host}");
    if let Some(port) = attributes.first_port(&["server.port", "net.peer.port"]) {
        url.push(':');
        url.push_str(&port);
    }
    if let Some(database) = database {
        url.push('/');
        url.push_str(database);
    }
    url
}

/// The parts of `scheme://[user[:password]@]host[:port][/path][?query|;parameters]` we keep:
/// never the credentials, the query or JDBC `;parameters` (which may hold a password).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct UrlParts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
}

impl<'a> UrlParts<'a> {
    pub(super) fn parse(text: &'a str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        if scheme.is_empty() {
            return None;
        }
        let authority_end = rest.find(['/', '?', '#', ';']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        if authority.is_empty() {
            return None;
        }
        let path = if tail.starts_with('/') { &tail[..tail.find(['?', '#', ';']).unwrap_or(tail.len())] } else { "" };
        Some(UrlParts { scheme, authority, path })
    }

    pub(super) fn host(&self) -> &'a str {
        authority_host(self.authority)
    }

    fn to_sanitized_url(&self, database: Option<&str>) -> String {
        let path = match database {
            Some(database) if self.path.is_empty() || self.path == "/" => format!("/{database}"),
            _ => self.path.to_owned(),
        };
        format!("{}://{}{path}", self.scheme, self.authority)
    }
}

/// The host of `host[:port]` or `[ipv6][:port]`.
pub(super) fn authority_host(authority: &str) -> &str {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split_once(']').map_or(bracketed, |(host, _)| host);
    }
    authority.split_once(':').map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;

    use super::UrlParts;
    use crate::otlp::fixtures::*;

    #[test]
    fn sql_call_with_a_connection_string_is_sanitised() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("db.system", "postgresql"),
                text("db.name", "orders"),
                text("db.connection_string", "jdbc:postgresql://app:s3cret@db.internal:5432?sslmode=require"),
                text("db.statement", "SELECT * FROM orders WHERE id = ?"),
            ],
        ));
        assert_eq!(row.sql_url, some("postgresql://db.internal:5432/orders"));
        assert_eq!(row.name, "orders@db.internal");
        assert_eq!(row.namespace, some("remote"));
        assert!(row.annotations.is_empty(), "db attributes are consumed: {:?}", row.annotations);
    }

    #[test]
    fn connection_string_with_a_database_path_keeps_it() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("db.system", "mysql"),
                text("db.name", "shop"),
                text("db.connection_string", "mysql://root:pw@mysql:3306/shop;password=pw"),
            ],
        ));
        assert_eq!(row.sql_url, some("mysql://mysql:3306/shop"));
    }

    #[test]
    fn sql_call_without_a_connection_string_uses_the_server_address() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("db.system.name", "postgresql"),
                text("db.namespace", "inventory"),
                text("server.address", "pg.internal"),
                int("server.port", 5432),
                text("db.query.text", "SELECT 1"),
            ],
        ));
        assert_eq!(row.sql_url, some("postgresql://pg.internal:5432/inventory"));
        assert_eq!(row.name, "inventory@pg.internal");

        let nothing_known = convert(span(OtlpSpanKind::Client, vec![text("db.system", "sqlite")]));
        assert_eq!(nothing_known.sql_url, some("sqlite://localhost"));
    }

    #[test]
    fn non_sql_database_has_no_sql_url() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![text("db.system", "redis"), text("net.peer.name", "cache"), text("db.statement", "GET k")],
        ));
        assert_eq!(row.sql_url, None);
        assert_eq!(row.name, "cache");
        assert_eq!(row.namespace, some("remote"));
    }

    #[test]
    fn url_parts_drop_credentials_and_parameters() {
        let parts = UrlParts::parse("postgresql://user:p@ss@[::1]:5432/db?x=1");
        assert_eq!(parts, Some(UrlParts { scheme: "postgresql", authority: "[::1]:5432", path: "/db" }));
        assert_eq!(parts.map(|p| p.host()), Some("::1"));
        assert_eq!(UrlParts::parse("Server=db;Password=x"), None);
        assert_eq!(UrlParts::parse("://host"), None);
        assert_eq!(UrlParts::parse("mysql://user@/db"), None);
    }
}
