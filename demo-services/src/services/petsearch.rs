//! PetSearch (spec §2.2): the catalogue search over the pets table, instrumented with
//! OpenTelemetry as the original's Java agent is. Keeps the original's quirks: a 3 s sleep for
//! bunnies before the scan span, a Scan (not a Query) whatever the filter, and a ≈1 % chance
//! per returned pet of a failing `CreateBucket` that fails the whole search.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, StringValue, Value as OtelValue};
use serde_json::{json, Value};

use crate::aws_client::{AwsCall, AwsClient};
use crate::otel::{OSpan, Otel};
use crate::propagation::TraceContext;
use crate::seed::{photo_folder, Pet};
use crate::services::aws::BUCKET_NAME;
use crate::table::TABLE_NAME;

pub(crate) const SERVICE_NAME: &str = "PetSearch";
const BUNNY_DELAY: Duration = Duration::from_millis(3000);
/// `random() * 9999 < 100` per pet in the original.
const S3_FAULT_PER_TEN_THOUSAND: u32 = 100;

#[derive(Debug)]
struct PetSearch {
    otel: Otel,
    aws: AwsClient,
    aws_base: String,
}

pub(crate) fn router(otel: Otel, aws_base: String) -> Router {
    let state = Arc::new(PetSearch { otel, aws: AwsClient::new(aws_base.clone()), aws_base });
    Router::new().route("/api/search", get(search)).route("/health/status", get(|| async { "Alive" })).with_state(state)
}

async fn search(
    State(service): State<Arc<PetSearch>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let filters: Vec<(String, String)> = ["pettype", "petcolor", "petid"]
        .iter()
        .filter_map(|name| query.get(*name).filter(|value| !value.is_empty()).map(|v| ((*name).to_owned(), v.clone())))
        .collect();
    let query_text: Vec<String> = filters.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let server = service.otel.server_span(
        "GET /api/search",
        TraceContext::from_headers(&headers),
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/api/search"),
            KeyValue::new("url.path", "/api/search"),
            KeyValue::new("url.query", query_text.join("&")),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("server.address", "petsearch"),
        ],
    );
    if query.get("pettype").map(String::as_str) == Some("bunny") {
        service.otel.log(Some(&server), Severity::Debug, "bunny search: deliberate 3 s delay", vec![]);
        tokio::time::sleep(BUNNY_DELAY).await;
    }
    parameter_lookup(&server);
    let (status, body) = match scan_and_map(&service, &server, &filters).await {
        Ok(pets) => {
            let message = format!("returned {} pets", pets.len());
            service.otel.log(
                Some(&server),
                Severity::Info,
                &message,
                vec![("petsReturned", AnyValue::Int(pets.len() as i64))],
            );
            (StatusCode::OK, Json(Value::Array(pets)))
        }
        Err(message) => {
            service.otel.log(Some(&server), Severity::Error, &message, vec![]);
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": message, "status": 500})))
        }
    };
    server.http_status(status.as_u16());
    server.end();
    (status, body).into_response()
}

/// The original's method-level span around its cached parameter lookup.
fn parameter_lookup(server: &OSpan) {
    let span = server.child("Get parameter from Systems Manager or cache", SpanKind::Internal, vec![]);
    span.end();
}

async fn scan_and_map(service: &PetSearch, server: &OSpan, filters: &[(String, String)]) -> Result<Vec<Value>, String> {
    let attributes = filters.iter().map(|(name, value)| KeyValue::new(name.clone(), value.clone())).collect();
    let scan_span = server.child("Scanning DynamoDB Table", SpanKind::Internal, attributes);
    let scan_filter: serde_json::Map<String, Value> =
        filters.iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect();
    let body = json!({"TableName": TABLE_NAME, "ScanFilter": scan_filter});
    let call = aws_span(&scan_span, "DynamoDB", "Scan", &service.aws, body).await;
    let result = match call.error {
        Some((kind, message)) => {
            scan_span.exception(&kind, &message);
            Err(format!("{kind}: {message}"))
        }
        None => map_pets(service, &scan_span, &call.body).await,
    };
    scan_span.end();
    result
}

async fn map_pets(service: &PetSearch, scan_span: &OSpan, body: &Value) -> Result<Vec<Value>, String> {
    let pets: Vec<Pet> = serde_json::from_value(body["Items"].clone()).unwrap_or_default();
    let mut mapped = Vec::with_capacity(pets.len());
    for pet in pets {
        let url_span = scan_span.child("Get Pet URL", SpanKind::Internal, vec![]);
        if rand::random_range(0..10_000) < S3_FAULT_PER_TEN_THOUSAND {
            let call = aws_span(&url_span, "S3", "CreateBucket", &service.aws, json!({"Bucket": BUCKET_NAME})).await;
            let (kind, message) = call.error.unwrap_or_else(|| ("AmazonS3Exception".into(), "unexpected".into()));
            let message = format!("Error while accessing S3 bucket: {kind}: {message}");
            url_span.exception("software.amazon.awssdk.services.s3.model.S3Exception", &message);
            scan_span.exception("software.amazon.awssdk.services.s3.model.S3Exception", &message);
            url_span.end();
            return Err(message);
        }
        mapped.push(json!({
            "petid": pet.petid, "availability": pet.availability, "cuteness_rate": pet.cuteness_rate,
            "petcolor": pet.petcolor, "pettype": pet.pettype, "price": pet.price,
            "peturl": presigned_url(&service.aws_base, &pet),
        }));
        url_span.end();
    }
    Ok(mapped)
}

/// A presigned-looking GET URL for the photo, valid 5 minutes, served by the local bucket.
fn presigned_url(aws_base: &str, pet: &Pet) -> String {
    let signature: u128 = rand::random();
    format!(
        "{aws_base}/s3/{BUCKET_NAME}/{}/{}.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300&X-Amz-Signature={signature:032x}",
        photo_folder(&pet.pettype),
        pet.image
    )
}

/// An AWS SDK call as the Java agent records it: a client span with `rpc.*` and `aws.*`.
pub(crate) async fn aws_span(
    parent: &OSpan,
    service: &str,
    operation: &str,
    client: &AwsClient,
    body: Value,
) -> AwsCall {
    let mut attributes = vec![
        KeyValue::new("rpc.system", "aws-api"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", operation.to_owned()),
        KeyValue::new("aws.region", "us-east-1"),
    ];
    match service {
        "DynamoDB" => attributes.push(KeyValue::new(
            "aws.dynamodb.table_names",
            OtelValue::Array(vec![StringValue::from(TABLE_NAME)].into()),
        )),
        "S3" => attributes.push(KeyValue::new("aws.s3.bucket", BUCKET_NAME)),
        _ => {}
    }
    let span = parent.child(&format!("{service}.{operation}"), SpanKind::Client, attributes);
    let call = client.call(service, operation, body, Some(span.context())).await;
    span.set(KeyValue::new("aws.request_id", call.request_id.clone()));
    if call.retries > 0 {
        span.set(KeyValue::new("aws.retries", i64::from(call.retries)));
    }
    if call.status > 0 {
        span.http_status(call.status);
    }
    if let Some((kind, message)) = &call.error {
        span.exception(kind, message);
    }
    span.end();
    call
}
