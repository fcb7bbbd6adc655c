//! PetAdoptionStatusUpdater (spec §2.5): an HTTP gateway stage `prod` in front of a function
//! that sets `availability` on one pet. Traced as AWS traces them: the gateway's segment
//! (`PetAdoptionStatusUpdater/prod`, origin `AWS::ApiGateway::Stage`) with a `Lambda` Invoke
//! subsegment, and the function's own segment (origin `AWS::Lambda::Function`) under it with
//! the `DynamoDB` UpdateItem subsegment its wrapped SDK writes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use fluoro_proto::Aws;
use serde_json::{json, Value};

use crate::aws_client::AwsClient;
use crate::propagation::TraceContext;
use crate::table::TABLE_NAME;
use crate::xray::{XSpan, XrayEmitter};
use crate::xray_calls::{self, Resource};

pub(crate) const GATEWAY_NAME: &str = "PetAdoptionStatusUpdater/prod";
pub(crate) const FUNCTION_NAME: &str = "petstatusupdater";

#[derive(Debug)]
struct StatusUpdater {
    emitter: Arc<XrayEmitter>,
    aws: AwsClient,
}

pub(crate) fn router(emitter: Arc<XrayEmitter>, aws_base: String) -> Router {
    let state = Arc::new(StatusUpdater { emitter, aws: AwsClient::new(aws_base) });
    Router::new()
        .route("/health/status", get(|| async { "Alive" }))
        .route("/prod/", any(update))
        .route("/prod/{*path}", any(update))
        .with_state(state)
}

async fn update(State(service): State<Arc<StatusUpdater>>, headers: HeaderMap, body: String) -> Response {
    let gateway = XSpan::segment(&service.emitter, GATEWAY_NAME, TraceContext::from_headers(&headers));
    gateway.set_origin("AWS::ApiGateway::Stage");
    gateway.http_request("PUT", "https://petstatusupdater.execute-api.us-east-1.amazonaws.com/prod/", None);
    let invoke = gateway.child("Lambda");
    invoke.aws_call(Aws {
        operation: Some("Invoke".into()),
        function_name: Some(FUNCTION_NAME.to_owned()),
        region: Some("us-east-1".into()),
        ..Aws::default()
    });
    let (status, answer) = run_function(&service, invoke.context(), &body).await;
    invoke.http_status(status.as_u16());
    invoke.end();
    gateway.http_status(status.as_u16());
    gateway.end();
    (status, answer).into_response()
}

/// The function: availability `yes` if the body has `petavailability` (any value), else `no`.
async fn run_function(service: &StatusUpdater, caller: TraceContext, body: &str) -> (StatusCode, String) {
    let function = XSpan::segment(&service.emitter, FUNCTION_NAME, Some(caller));
    function.set_origin("AWS::Lambda::Function");
    let input: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let availability = if input.get("petavailability").is_some() { "yes" } else { "no" };
    let (petid, pettype) = (input["petid"].as_str().unwrap_or_default(), input["pettype"].as_str().unwrap_or_default());
    let request =
        json!({"TableName": TABLE_NAME, "Key": {"pettype": pettype, "petid": petid}, "availability": availability});
    let call =
        xray_calls::aws(&function, &service.aws, "DynamoDB", "UpdateItem", Resource::Table(TABLE_NAME), request).await;
    let outcome = match call.error {
        None => {
            eprintln!("Updated petid: {petid}, pettype: {pettype}, to availability: {availability}");
            (StatusCode::OK, "success".to_owned())
        }
        Some((kind, message)) => {
            eprintln!("{}", json!({"level": "error", "err": format!("{kind}: {message}")}));
            function.fault();
            (StatusCode::BAD_GATEWAY, json!({"message": "Internal server error"}).to_string())
        }
    };
    function.end();
    outcome
}
