//! The X-Ray API's error shape, which every Fluoro HTTP route answers errors in (the collector's
//! X-Ray and sampling routes, the sidecar's proxy, the ui's query routes): status, header
//! `X-Amzn-ErrorType: <Name>` and body `{"__type": "<Name>", "message": "..."}`. botocore
//! reads the type from either; the dashboard and `trace` read the body.

/// The header botocore reads the error type from.
pub const XRAY_ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// The body of an error answer.
pub fn xray_error_body(error_type: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "__type": error_type, "message": message })
}
