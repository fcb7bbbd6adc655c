//! The local AWS stand-in: the pets table (`table.rs`), the photo bucket on disk, the queue,
//! the topic, and `amazon.com`'s stand-in, behind one loopback HTTP port. Nothing leaves the
//! machine. Untraced, as AWS's own side is: the callers' SDK subsegments show the calls.
//!
//! | route | stands in for |
//! |---|---|
//! | `POST /dynamodb` `X-Amz-Target: DynamoDB.Scan/Query/UpdateItem/BatchWriteItem` | the pets table |
//! | `POST /sqs` `SQS.SendMessage`, `POST /sns` `SNS.Publish` | queue and topic (kept in memory, bounded) |
//! | `POST /s3` `S3.CreateBucket` | the bucket's control plane: always AccessDenied (spec §2.2) |
//! | `GET /s3/<bucket>/<folder>/<image>.jpg` | the photo bucket on disk |
//! | `GET /amazon.com/` | the external dependency of payforadoption |
//! | `GET`/`PUT /control/billing`, `GET /control/table` | the table's billing mode and counters |

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::seed::{photo_folder, seed_pets, Pet};
use crate::table::{BillingMode, PetsTable, TABLE_NAME};

pub(crate) const BUCKET_NAME: &str = "petadoptions-photos";
pub(crate) const QUEUE_NAME: &str = "petadoptions-queue";
pub(crate) const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:petadoptions-topic";
pub(crate) const PHOTOS_DIR: &str = "photos";
/// Messages kept per queue or topic; nothing consumes them (as in the original).
const MAX_MESSAGES: usize = 1000;

#[derive(Debug)]
struct AwsState {
    table: Mutex<PetsTable>,
    messages: Mutex<VecDeque<Value>>,
    photos: PathBuf,
}

/// The router; the table starts seeded (the original seeds it at deploy time).
pub(crate) fn router(state_dir: &std::path::Path, billing: BillingMode) -> Router {
    let mut table = PetsTable::new(billing, Instant::now());
    table.set_billing(BillingMode::OnDemand);
    let _ = table.batch_write(seed_pets(), Instant::now());
    table.set_billing(billing);
    let photos = state_dir.join(PHOTOS_DIR);
    write_photos(&photos);
    let state = Arc::new(AwsState { table: Mutex::new(table), messages: Mutex::new(VecDeque::new()), photos });
    Router::new()
        .route("/dynamodb", post(dynamodb))
        .route("/sqs", post(message))
        .route("/sns", post(message))
        .route("/s3", post(create_bucket))
        .route("/s3/{bucket}/{folder}/{file}", get(photo))
        .route("/amazon.com/", get(amazon))
        .route("/control/billing", get(billing_mode).put(set_billing_mode))
        .route("/control/table", get(table_counters))
        .with_state(state)
}

fn target(headers: &HeaderMap) -> String {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    target.rsplit('.').next().unwrap_or_default().to_owned()
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message});
    (status, request_id(), Json(body)).into_response()
}

fn request_id() -> [(&'static str, String); 1] {
    [("x-amzn-requestid", uuid::Uuid::new_v4().to_string())]
}

async fn dynamodb(State(state): State<Arc<AwsState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let operation = target(&headers);
    if body["TableName"].as_str() != Some(TABLE_NAME) {
        return aws_error(StatusCode::BAD_REQUEST, "ResourceNotFoundException", "Requested resource not found");
    }
    let now = Instant::now();
    let mut table = state.table.lock();
    let outcome = match operation.as_str() {
        "Scan" => table.scan(&scan_filters(&body), now).map(|items| json!({"Items": items, "Count": items.len()})),
        "Query" => {
            let (pettype, petid) = (body["Key"]["pettype"].as_str(), body["Key"]["petid"].as_str());
            table
                .query(pettype.unwrap_or_default(), petid.unwrap_or_default(), now)
                .map(|item| json!({"Items": item.into_iter().collect::<Vec<_>>()}))
        }
        "UpdateItem" => {
            let (pettype, petid) = (body["Key"]["pettype"].as_str(), body["Key"]["petid"].as_str());
            let availability = body["availability"].as_str().unwrap_or("no");
            table
                .update_availability(pettype.unwrap_or_default(), petid.unwrap_or_default(), availability, now)
                .map(|()| json!({"Attributes": {"availability": availability}}))
        }
        "BatchWriteItem" => {
            let pets: Vec<Pet> = serde_json::from_value(body["Items"].clone()).unwrap_or_default();
            table.batch_write(pets, now).map(|()| json!({"UnprocessedItems": {}}))
        }
        _ => return aws_error(StatusCode::BAD_REQUEST, "UnknownOperationException", "unknown operation"),
    };
    match outcome {
        Ok(body) => (request_id(), Json(body)).into_response(),
        Err(_) => aws_error(
            StatusCode::BAD_REQUEST,
            crate::aws_client::THROTTLING_EXCEPTION,
            "The level of configured provisioned throughput for the table was exceeded",
        ),
    }
}

fn scan_filters(body: &Value) -> Vec<(String, String)> {
    let Some(filters) = body["ScanFilter"].as_object() else { return Vec::new() };
    filters.iter().filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned()))).collect()
}

async fn message(State(state): State<Arc<AwsState>>, Json(body): Json<Value>) -> Response {
    let mut messages = state.messages.lock();
    if messages.len() >= MAX_MESSAGES {
        messages.pop_front();
    }
    messages.push_back(body);
    (request_id(), Json(json!({"MessageId": uuid::Uuid::new_v4().to_string()}))).into_response()
}

async fn create_bucket() -> Response {
    let body = json!({"__type": "AccessDenied", "message": "Access Denied"});
    (StatusCode::FORBIDDEN, request_id(), Json(body)).into_response()
}

async fn photo(
    State(state): State<Arc<AwsState>>,
    Path((bucket, folder, file)): Path<(String, String, String)>,
) -> Response {
    let safe = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    if bucket != BUCKET_NAME || !safe(&folder) || !safe(&file) || file.starts_with('.') {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    }
    match tokio::fs::read(state.photos.join(&folder).join(&file)).await {
        Ok(bytes) => ([("content-type", "image/svg+xml")], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
    }
}

async fn amazon() -> Response {
    // An external site's latency, without leaving the machine.
    let delay = rand::random_range(20..80);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    ([("content-type", "text/html")], "<!doctype html><title>amazon.com (local stand-in)</title>").into_response()
}

async fn billing_mode(State(state): State<Arc<AwsState>>) -> Json<Value> {
    Json(json!({"billing": state.table.lock().billing()}))
}

async fn set_billing_mode(State(state): State<Arc<AwsState>>, Json(body): Json<Value>) -> Response {
    match serde_json::from_value::<BillingMode>(body["billing"].clone()) {
        Ok(mode) => {
            state.table.lock().set_billing(mode);
            Json(json!({"billing": mode})).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, "billing must be \"provisioned\" or \"on-demand\"").into_response(),
    }
}

async fn table_counters(State(state): State<Arc<AwsState>>) -> Json<Value> {
    let table = state.table.lock();
    Json(json!({"billing": table.billing(), "counters": table.counters()}))
}

/// One small picture per pet in the bucket's folders, unless already there.
fn write_photos(photos: &std::path::Path) {
    for pet in seed_pets() {
        let folder = photos.join(photo_folder(&pet.pettype));
        let path = folder.join(format!("{}.jpg", pet.image));
        if path.exists() {
            continue;
        }
        let color = match pet.petcolor.as_str() {
            "black" => "#333",
            "brown" => "#8b5a2b",
            "grey" => "#999",
            _ => "#eee",
        };
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"160\" height=\"120\"><rect width=\"160\" height=\"120\" fill=\"{color}\"/><text x=\"80\" y=\"66\" font-size=\"20\" text-anchor=\"middle\" fill=\"#c33\">{} {}</text></svg>",
            pet.pettype, pet.petid
        );
        let _ = std::fs::create_dir_all(&folder).and_then(|()| std::fs::write(&path, svg));
    }
}
