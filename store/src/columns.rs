//! The names of the span columns, one per field of a stored span, as blocks on disk and scans
//! have them (types and meaning: the table in `block/mod.rs`). Every reader of a scan names
//! columns through these, so a rename is one change here; [`u64_column`] reads one from a frame.

use polars::prelude::{DataFrame, UInt64Chunked};

use crate::error::{polars_error, Result};

pub const TRACE_HI: &str = "trace_hi";
pub const TRACE_LO: &str = "trace_lo";
pub const ID: &str = "id";
pub const PARENT_ID: &str = "parent_id";
pub const KIND: &str = "kind";
pub const SERVICE: &str = "service";
pub const NAME: &str = "name";
pub const ORIGIN: &str = "origin";
pub const NAMESPACE: &str = "namespace";
pub const START_US: &str = "start_us";
pub const END_US: &str = "end_us";
pub const IN_PROGRESS: &str = "in_progress";
pub const ERROR: &str = "error";
pub const FAULT: &str = "fault";
pub const THROTTLE: &str = "throttle";
pub const REMOTE: &str = "remote";
pub const TRACED: &str = "traced";
pub const HTTP_METHOD: &str = "http_method";
pub const HTTP_URL: &str = "http_url";
pub const HTTP_STATUS: &str = "http_status";
pub const HTTP_CLIENT_IP: &str = "http_client_ip";
pub const HTTP_USER_AGENT: &str = "http_user_agent";
pub const EXCEPTIONS: &str = "exceptions";
pub const ANNOTATIONS: &str = "annotations";
pub const USER: &str = "user";
pub const AWS_ACCOUNT_ID: &str = "aws_account_id";
pub const AWS_OPERATION: &str = "aws_operation";
pub const AWS_REGION: &str = "aws_region";
pub const AWS_TABLE: &str = "aws_table";
pub const AWS_QUEUE: &str = "aws_queue";
pub const AWS_RESOURCE: &str = "aws_resource";
pub const AWS_RESOURCE_ARN: &str = "aws_resource_arn";
pub const AWS_INSTANCE_ID: &str = "aws_instance_id";
pub const AWS_AVAILABILITY_ZONE: &str = "aws_availability_zone";
pub const SQL_URL: &str = "sql_url";
pub const DOCUMENT: &str = "document";
pub const SEQUENCE: &str = "sequence";

/// Every column except [`DOCUMENT`] (the raw X-Ray JSON, the largest column, which no analysis
/// reads), in schema order.
pub const SPAN_COLUMNS: &[&str] = &[
    TRACE_HI,
    TRACE_LO,
    ID,
    PARENT_ID,
    KIND,
    SERVICE,
    NAME,
    ORIGIN,
    NAMESPACE,
    START_US,
    END_US,
    IN_PROGRESS,
    ERROR,
    FAULT,
    THROTTLE,
    REMOTE,
    TRACED,
    HTTP_METHOD,
    HTTP_URL,
    HTTP_STATUS,
    HTTP_CLIENT_IP,
    HTTP_USER_AGENT,
    EXCEPTIONS,
    ANNOTATIONS,
    USER,
    AWS_ACCOUNT_ID,
    AWS_OPERATION,
    AWS_REGION,
    AWS_TABLE,
    AWS_QUEUE,
    AWS_RESOURCE,
    AWS_RESOURCE_ARN,
    AWS_INSTANCE_ID,
    AWS_AVAILABILITY_ZONE,
    SQL_URL,
    SEQUENCE,
];

/// A span's key: its versions share it (`replace_rule.rs`).
pub(crate) const SPAN_KEY_COLUMNS: &[&str] = &[TRACE_HI, TRACE_LO, ID];
/// What chooses between versions of a span; a scan reads them only when two versions meet.
pub(crate) const PREFERENCE_COLUMNS: &[&str] = &[IN_PROGRESS, SEQUENCE];

/// A frame's `u64` column (ids, trace-id halves, sequences) by name, as the store's error.
pub(crate) fn u64_column<'a>(frame: &'a DataFrame, name: &str) -> Result<&'a UInt64Chunked> {
    frame.column(name).and_then(|column| column.u64()).map_err(polars_error)
}
