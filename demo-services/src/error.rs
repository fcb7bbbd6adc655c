//! What can stop a demo service: its configuration, its sockets, its database.

/// A demo service's failure to start or to keep serving.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("invalid demo service configuration {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("sql database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("opentelemetry exporter: {0}")]
    Otel(String),
}

pub type Result<T, E = DemoError> = std::result::Result<T, E>;

impl DemoError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DemoError {
        let context = context.into();
        move |source| DemoError::Io { context, source }
    }
}
