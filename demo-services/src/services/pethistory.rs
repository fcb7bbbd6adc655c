//! petadoptionshistory (spec §2.7): reads and clears `transactions_history`. Uninstrumented,
//! as the shipped original is.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::sql::{select_history, Database, DELETE_HISTORY};

pub(crate) fn router(database: Database) -> Router {
    Router::new()
        .route("/petadoptionshistory/api/home/transactions", get(transactions).delete(delete_transactions))
        .route("/health/status", get(health))
        .with_state(database)
}

async fn transactions(State(database): State<Database>) -> Response {
    match database.run(select_history).await {
        Ok(rows) => Json(Value::Array(rows)).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": error.to_string()}))).into_response(),
    }
}

async fn delete_transactions(State(database): State<Database>) -> Response {
    match database.run(|connection| connection.execute(DELETE_HISTORY, [])).await {
        Ok(_) => Json(json!({"success": true})).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": error.to_string()}))).into_response(),
    }
}

async fn health(State(database): State<Database>) -> Response {
    match database.run(|connection| connection.execute_batch("SELECT NULL")).await {
        Ok(()) => "Alive".into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
