//! payforadoption (spec §2.3): records an adoption in the SQL database and marks the pet
//! unavailable through the status updater, calling `amazon.com` (a local stand-in) beside it.
//! Instrumented with X-Ray as the original's Go SDK is.
//!
//! The memory fault (`/petstore/errormode1` = `true`, spec §5 (b)): a bunny payment waits 1 s,
//! keeps 32 MiB for good and fails with "Illegal memory allocation"; once the process's
//! resident memory reaches its cap it aborts, as the original's container is OOM-killed, and
//! `fluoro demo` restarts it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{json, Value};

use opentelemetry::logs::Severity;

use crate::aws_client::AwsClient;
use crate::otel::Otel;
use crate::params;
use crate::propagation::TraceContext;
use crate::sampling::Request;
use crate::seed::seed_pets;
use crate::sql::{self, Database, Transaction, DATABASE_NODE};
use crate::table::TABLE_NAME;
use crate::xray::{XSpan, XrayEmitter};
use crate::xray_calls;

pub(crate) const SERVICE_NAME: &str = "payforadoption";
const LEAK_BYTES: usize = 32 * 1024 * 1024;
const FAULT_DELAY: Duration = Duration::from_secs(1);
pub(crate) const ILLEGAL_MEMORY_ALLOCATION: &str = "Illegal memory allocation";
/// The external dependency's URL as recorded; the call goes to the local stand-in.
const AMAZON_URL: &str = "https://amazon.com";

#[derive(Debug)]
struct PayForAdoption {
    emitter: Arc<XrayEmitter>,
    /// Its log lines and process metrics over OTLP (the original's log and metric agents).
    otel: Otel,
    database: Database,
    aws: AwsClient,
    aws_base: String,
    status_updater: String,
    state_dir: PathBuf,
    memory_cap_bytes: u64,
    http: reqwest::Client,
    /// What the memory fault keeps: never freed, as the original's finalizer cycles.
    leaked: Mutex<Vec<Vec<u8>>>,
}

pub(crate) struct Dependencies {
    pub emitter: Arc<XrayEmitter>,
    pub otel: Otel,
    pub database: Database,
    pub aws_base: String,
    pub status_updater: String,
    pub state_dir: PathBuf,
    pub memory_cap_mib: u64,
}

pub(crate) fn router(dependencies: Dependencies) -> Router {
    let state = Arc::new(PayForAdoption {
        emitter: dependencies.emitter,
        otel: dependencies.otel,
        database: dependencies.database,
        aws: AwsClient::new(dependencies.aws_base.clone()),
        aws_base: dependencies.aws_base,
        status_updater: dependencies.status_updater,
        state_dir: dependencies.state_dir,
        memory_cap_bytes: dependencies.memory_cap_mib.saturating_mul(1024 * 1024),
        http: reqwest::Client::new(),
        leaked: Mutex::new(Vec::new()),
    });
    Router::new()
        .route("/api/home/completeadoption", post(complete_adoption))
        .route("/api/home/cleanupadoptions", post(cleanup_adoptions))
        .route("/api/home/triggerseeding", post(trigger_seeding))
        .route("/health/status", get(|| async { "" }))
        .with_state(state)
}

fn segment(service: &PayForAdoption, headers: &HeaderMap, path: &str) -> XSpan {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("payforadoption");
    let request = Request { service: SERVICE_NAME, host, method: "POST", path };
    let segment = XSpan::segment_for(&service.emitter, SERVICE_NAME, TraceContext::from_headers(headers), request);
    segment.http_request("POST", &format!("http://payforadoption{path}"), None);
    segment
}

async fn complete_adoption(
    State(service): State<Arc<PayForAdoption>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let started = Instant::now();
    let segment = segment(&service, &headers, "/api/home/completeadoption");
    let (pet_id, pet_type) = (query.get("petId").cloned(), query.get("petType").cloned());
    let (status, body) = match (pet_id, pet_type) {
        (Some(pet_id), Some(pet_type)) if !pet_id.is_empty() && !pet_type.is_empty() => {
            segment.annotate("PetId", &pet_id);
            segment.annotate("PetType", &pet_type);
            adopt(&service, &segment, pet_id, pet_type).await
        }
        _ => (StatusCode::BAD_REQUEST, json!({"error": "Bad request parameters"})),
    };
    segment.metadata("timeTakenSeconds", json!(started.elapsed().as_secs_f64()));
    segment.http_status(status.as_u16());
    log_line(&service, &segment, "CompleteAdoption", &query, started, body["error"].as_str());
    segment.end();
    (status, Json(body)).into_response()
}

async fn adopt(service: &PayForAdoption, segment: &XSpan, pet_id: String, pet_type: String) -> (StatusCode, Value) {
    let adoption = Transaction {
        pet_id: pet_id.clone(),
        transaction_id: uuid::Uuid::new_v4().to_string(),
        adoption_date: now_rfc3339(),
    };
    if pet_type == "bunny" {
        if let Some(error) = memory_fault(service, segment).await {
            return (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": error}));
        }
    }
    let insert = adoption.clone();
    if let Err(error) =
        sql_call(service, segment, sql::INSERT_TRANSACTION, move |c| sql::insert_transaction(c, &insert)).await
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": error}));
    }
    if let Err(error) = update_availability(service, segment, &pet_id, &pet_type).await {
        return (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": error}));
    }
    let body = json!({"transactionid": adoption.transaction_id, "petid": pet_id, "pettype": pet_type, "AdoptionDate": adoption.adoption_date});
    (StatusCode::OK, body)
}

/// The errormode1 fault, read from the parameter store on every bunny payment.
async fn memory_fault(service: &PayForAdoption, segment: &XSpan) -> Option<String> {
    let on = params::get(&service.state_dir, params::ERRORMODE1).as_deref() == Some("true");
    let trace = segment.trace_id().to_string();
    let line = json!({"level": "error", "errorMode": if on { "On" } else { "Off" }, "traceId": trace});
    log(service, segment, Severity::Error, &line);
    if !on {
        return None;
    }
    tokio::time::sleep(FAULT_DELAY).await;
    // Touch every page, so the memory is resident and shows in the process's metrics.
    service.leaked.lock().push(vec![1u8; LEAK_BYTES]);
    segment.exception("MemoryError", ILLEGAL_MEMORY_ALLOCATION, false);
    let resident = crate::process::resident_bytes().unwrap_or_default();
    if resident >= service.memory_cap_bytes {
        let line = json!({"level": "error", "msg": "memory cap reached, aborting", "resident": resident});
        log(service, segment, Severity::Fatal, &line);
        // The records must leave before the process does, as a container's last lines do.
        service.otel.flush_logs();
        std::process::abort();
    }
    Some(ILLEGAL_MEMORY_ALLOCATION.to_owned())
}

/// A statement as the Go SDK's wrapped `sql.DB` records it: a subsegment named `db@host`.
async fn sql_call<T: Send + 'static>(
    service: &PayForAdoption,
    segment: &XSpan,
    query: &str,
    work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, String> {
    let subsegment = segment.child(DATABASE_NODE);
    subsegment.sql_call(&service.database.url(), query);
    let result = service.database.run(work).await.map_err(|error| error.to_string());
    if let Err(message) = &result {
        subsegment.exception("SqlError", message, true);
    }
    subsegment.end();
    result
}

/// "UpdateAvailability": the status update and the availability API, concurrently.
async fn update_availability(
    service: &PayForAdoption,
    segment: &XSpan,
    pet_id: &str,
    pet_type: &str,
) -> Result<(), String> {
    let parent = segment.child("UpdateAvailability");
    let body = json!({"petid": pet_id, "pettype": pet_type});
    let status_update = async {
        let subsegment = parent.child("Update Adoption Status");
        let url = format!("{}/prod/", service.status_updater);
        let answer = xray_calls::http(
            &subsegment,
            &service.http,
            "PetAdoptionStatusUpdater",
            Method::PUT,
            &url,
            None,
            Some(&body),
        )
        .await;
        subsegment.end();
        // Only a transport error counts; the status is not checked (the original's quirk).
        answer.map(|_| ())
    };
    let availability_api = async {
        let subsegment = parent.child("Invoking Availability API");
        let url = format!("{}/amazon.com/", service.aws_base);
        let answer =
            xray_calls::http(&subsegment, &service.http, "amazon.com", Method::GET, &url, Some(AMAZON_URL), None).await;
        subsegment.end();
        answer.map(|_| ())
    };
    let (updated, invoked) = tokio::join!(status_update, availability_api);
    parent.end();
    updated.and(invoked)
}

async fn cleanup_adoptions(State(service): State<Arc<PayForAdoption>>, headers: HeaderMap) -> Response {
    let segment = segment(&service, &headers, "/api/home/cleanupadoptions");
    seed(&service).await;
    let mut result = Ok(0);
    for statement in [sql::CREATE_TRANSACTIONS, sql::CREATE_HISTORY, sql::MOVE_TO_HISTORY, sql::DELETE_TRANSACTIONS] {
        result = sql_call(&service, &segment, statement, move |connection| connection.execute(statement, [])).await;
        if result.is_err() {
            break;
        }
    }
    let (status, body) = match result {
        Ok(_) => (StatusCode::OK, Value::Null),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": error})),
    };
    segment.http_status(status.as_u16());
    segment.end();
    (status, Json(body)).into_response()
}

async fn trigger_seeding(State(service): State<Arc<PayForAdoption>>) -> Response {
    seed(&service).await;
    StatusCode::OK.into_response()
}

/// Re-seeds the pets table: every pet available again. Untraced, as in the original.
async fn seed(service: &PayForAdoption) {
    let call = service
        .aws
        .call("DynamoDB", "BatchWriteItem", json!({"TableName": TABLE_NAME, "Items": seed_pets()}), None)
        .await;
    if let Some((kind, message)) = call.error {
        eprintln!("{}", json!({"level": "error", "method": "TriggerSeeding", "err": format!("{kind}: {message}")}));
    }
}

/// One JSON line on stderr, and the same as an OTLP log record in the segment's trace.
fn log(service: &PayForAdoption, segment: &XSpan, severity: Severity, line: &Value) {
    eprintln!("{line}");
    service.otel.log_in(Some(segment.context()), severity, &line.to_string(), vec![]);
}

/// The go-kit JSON log line, with the trace id and the original's fake customer (PII demo).
fn log_line(
    service: &PayForAdoption,
    segment: &XSpan,
    method: &str,
    query: &HashMap<String, String>,
    started: Instant,
    error: Option<&str>,
) {
    let line = json!({
        "ts": now_rfc3339(), "caller": "logging.go:37", "method": method, "traceId": segment.trace_id().to_string(),
        "PetId": query.get("petId"), "PetType": query.get("petType"),
        "took": format!("{:?}", started.elapsed()), "err": error,
        "customer": {"ID": 1042, "FullName": "Jane Doe", "Address": "1 Main St, Anytown", "CreditCard": "4111111111111111", "Email": "jane.doe@example.com"},
    });
    let severity = if error.is_some() { Severity::Error } else { Severity::Info };
    log(service, segment, severity, &line);
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    crate::time::rfc3339(now.as_secs())
}
