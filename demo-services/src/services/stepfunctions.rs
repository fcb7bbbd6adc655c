//! The bunny adoption workflow (spec §2.6): `StartExecution` answers at once and the state
//! machine runs on: ReadDynamoDB (a function that Queries the pets table), the choice on the
//! price against 55, then PriceGreaterThan55 / PriceLessThan55 (functions) or PriceIs55
//! (Succeed). Traced as Step Functions traces: a state machine segment (origin
//! `AWS::StepFunctions::StateMachine`) under the caller's StartExecution subsegment, one
//! subsegment per state, and each function's own segment (origin `AWS::Lambda::Function`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluoro_proto::Aws;
use serde_json::{json, Value};

use crate::aws_client::AwsClient;
use crate::propagation::TraceContext;
use crate::table::TABLE_NAME;
use crate::xray::{XSpan, XrayEmitter};
use crate::xray_calls::{self, Resource};

pub(crate) const STATE_MACHINE_NAME: &str = "PetAdoptionsStepFn";
pub(crate) const STATE_MACHINE_ARN: &str = "arn:aws:states:us-east-1:000000000000:stateMachine:PetAdoptionsStepFn";
const THRESHOLD: i64 = 55;

#[derive(Debug)]
struct Workflow {
    emitter: Arc<XrayEmitter>,
    aws: AwsClient,
}

pub(crate) fn router(emitter: Arc<XrayEmitter>, aws_base: String) -> Router {
    let state = Arc::new(Workflow { emitter, aws: AwsClient::new(aws_base) });
    Router::new()
        .route("/stepfunctions", post(start_execution))
        .route("/health/status", get(|| async { "Alive" }))
        .with_state(state)
}

async fn start_execution(
    State(workflow): State<Arc<Workflow>>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Json<Value> {
    let name = request["name"].as_str().unwrap_or("execution").to_owned();
    let input: Value =
        request["input"].as_str().and_then(|text| serde_json::from_str(text).ok()).unwrap_or(Value::Null);
    let caller = TraceContext::from_headers(&headers);
    tokio::spawn(async move { run(&workflow, caller, input).await });
    Json(json!({"executionArn": format!("{STATE_MACHINE_ARN}:{name}"), "startDate": 0}))
}

async fn run(workflow: &Workflow, caller: Option<TraceContext>, input: Value) {
    let machine = XSpan::segment(&workflow.emitter, STATE_MACHINE_NAME, caller);
    machine.set_origin("AWS::StepFunctions::StateMachine");
    machine.other_arn(STATE_MACHINE_ARN);
    let price = read_dynamodb(workflow, &machine, &input).await;
    let terminal = match price {
        Some(price) if price > THRESHOLD => Some("PriceGreaterThan55"),
        Some(price) if price < THRESHOLD => Some("PriceLessThan55"),
        Some(_) => None,
        None => {
            machine.fault();
            machine.end();
            return;
        }
    };
    match terminal {
        Some(state) => {
            let subsegment = machine.child(state);
            invoke_function(workflow, &subsegment, &format!("lambda_step_{}", state.to_ascii_lowercase()), |_| async {
            })
            .await;
            subsegment.end();
        }
        None => machine.child("PriceIs55").end(),
    }
    machine.end();
}

/// The ReadDynamoDB state: its function Queries the pet and returns the price as an integer.
async fn read_dynamodb(workflow: &Workflow, machine: &XSpan, input: &Value) -> Option<i64> {
    let state = machine.child("ReadDynamoDB");
    let key = json!({"pettype": input["pettype"], "petid": input["petid"]});
    let price = Arc::new(parking_lot::Mutex::new(None));
    let found = price.clone();
    invoke_function(workflow, &state, "lambda_step_readDDB", |function| async move {
        let request = json!({"TableName": TABLE_NAME, "Key": key});
        let call =
            xray_calls::aws(&function, &workflow.aws, "DynamoDB", "Query", Resource::Table(TABLE_NAME), request).await;
        *found.lock() = call.body["Items"][0]["price"].as_str().and_then(|text| text.parse::<i64>().ok());
    })
    .await;
    state.end();
    let price = *price.lock();
    price
}

/// A Lambda Invoke subsegment under `state`, and the function's own segment under it.
async fn invoke_function<F, Fut>(workflow: &Workflow, state: &XSpan, function_name: &str, body: F)
where
    F: FnOnce(XSpan) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let invoke = state.child("Lambda");
    invoke.aws_call(Aws {
        operation: Some("Invoke".into()),
        function_name: Some(function_name.to_owned()),
        region: Some("us-east-1".into()),
        ..Aws::default()
    });
    let function = XSpan::segment(&workflow.emitter, function_name, Some(invoke.context()));
    function.set_origin("AWS::Lambda::Function");
    body(function.clone()).await;
    function.end();
    invoke.http_status(200);
    invoke.end();
}
