//! petlistadoptions (spec §2.4): the latest 25 adoptions from the SQL database, each enriched
//! with its pet from PetSearch, all 25 lookups in parallel. Instrumented with OpenTelemetry as
//! the original's Go SDK is. A failed lookup drops its row silently (the original's quirk).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use reqwest::Method;
use serde_json::{json, Value};

use crate::http_call::call;
use crate::otel::{OSpan, Otel};
use crate::propagation::TraceContext;
use crate::sql::{list_transactions, Database, Transaction, DATABASE_NODE, LIST_TRANSACTIONS};

pub(crate) const SERVICE_NAME: &str = "petlistadoptions";

#[derive(Debug)]
struct ListAdoptions {
    otel: Otel,
    database: Database,
    petsearch: String,
    http: reqwest::Client,
}

pub(crate) fn router(otel: Otel, database: Database, petsearch: String) -> Router {
    let state = Arc::new(ListAdoptions { otel, database, petsearch, http: reqwest::Client::new() });
    Router::new()
        .route("/api/adoptionlist/", get(list))
        .route("/health/status", get(|| async { "\"alive\"" }))
        .with_state(state)
}

async fn list(State(service): State<Arc<ListAdoptions>>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let server = service.otel.server_span(
        "/api/adoptionlist/",
        TraceContext::from_headers(&headers),
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/api/adoptionlist/"),
            KeyValue::new("url.path", "/api/adoptionlist/"),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("server.address", "petlistadoptions"),
        ],
    );
    let (status, body, count) = match query(&service, &server).await {
        Ok(rows) => {
            let pets = enrich(&service, &server, rows).await;
            let count = pets.len();
            (StatusCode::OK, Value::Array(pets), count)
        }
        Err(message) => (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": message}), 0),
    };
    let took = started.elapsed().as_secs_f64();
    server.set(KeyValue::new("timeTakenSeconds", took));
    server.set(KeyValue::new("resultCount", count as i64));
    let summary = format!("method=ListAdoptionsMiddleware resultCount={count} took={took:.3}s");
    service.otel.log(Some(&server), Severity::Info, &summary, vec![("resultCount", AnyValue::Int(count as i64))]);
    server.http_status(status.as_u16());
    server.end();
    (status, Json(body)).into_response()
}

/// The "PGSQL Query" span: ends when the query returns, before the rows are used.
async fn query(service: &ListAdoptions, server: &OSpan) -> Result<Vec<Transaction>, String> {
    let span = server.child(
        "PGSQL Query",
        SpanKind::Client,
        vec![
            KeyValue::new("sql", LIST_TRANSACTIONS),
            KeyValue::new("url", service.database.url()),
            KeyValue::new("db.system.name", "sqlite"),
            KeyValue::new("db.namespace", "petadoptions"),
            KeyValue::new("server.address", "localhost"),
            KeyValue::new("db.query.text", LIST_TRANSACTIONS),
            KeyValue::new("peer.service", DATABASE_NODE),
        ],
    );
    let rows = service.database.run(list_transactions).await.map_err(|error| error.to_string());
    if let Err(message) = &rows {
        span.exception("SqlError", message);
    }
    span.end();
    rows
}

async fn enrich(service: &Arc<ListAdoptions>, server: &OSpan, rows: Vec<Transaction>) -> Vec<Value> {
    let mut lookups = tokio::task::JoinSet::new();
    for row in rows {
        let (service, server) = (service.clone(), server.clone());
        lookups.spawn(async move { lookup(&service, &server, row).await });
    }
    let mut pets = Vec::new();
    // Completion order, as the original's goroutines.
    while let Some(joined) = lookups.join_next().await {
        if let Ok(Some(pet)) = joined {
            pets.push(pet);
        }
    }
    pets
}

async fn lookup(service: &ListAdoptions, server: &OSpan, row: Transaction) -> Option<Value> {
    let url = format!("{}/api/search?petid={}", service.petsearch, row.pet_id);
    let span = server.child(
        "HTTP GET",
        SpanKind::Client,
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.full", url.clone()),
            KeyValue::new("peer.service", super::petsearch::SERVICE_NAME),
        ],
    );
    let answer = call(&service.http, Method::GET, &url, Some(span.context()), None).await;
    let pet = match answer {
        Ok(answer) => {
            span.http_status(answer.status);
            let pets: Option<Vec<Value>> = serde_json::from_str(&answer.body).ok().filter(|_| answer.status == 200);
            pets.and_then(|pets| pets.into_iter().next())
        }
        Err(message) => {
            span.exception("TransportError", &message);
            None
        }
    };
    span.end();
    let Some(mut pet) = pet else {
        let message = format!("dropping adoption of pet {}: petsearch lookup failed", row.pet_id);
        service.otel.log(Some(server), Severity::Warn, &message, vec![]);
        return None;
    };
    pet["transactionid"] = Value::String(row.transaction_id);
    pet["adoptiondate"] = Value::String(row.adoption_date);
    Some(pet)
}
