//! Downstream calls recorded as the X-Ray SDKs' client wrappers record them: an HTTP call is a
//! `remote` subsegment with method, URL and status; an AWS SDK call an `aws` subsegment named
//! after the service, with operation, resource, request id and retries.

use fluoro_proto::Aws;
use reqwest::Method;
use serde_json::Value;

use crate::aws_client::{AwsCall, AwsClient};
use crate::http_call::{call, Answer};
use crate::xray::XSpan;

/// An HTTP call by `parent` to `url`, shown as a subsegment `name` with `shown_url` (the URL the
/// original would call, when the local one stands in for it).
pub(crate) async fn http(
    parent: &XSpan,
    client: &reqwest::Client,
    name: &str,
    method: Method,
    url: &str,
    shown_url: Option<&str>,
    json: Option<&Value>,
) -> Result<Answer, String> {
    let subsegment = parent.child(name);
    subsegment.http_call(method.as_str(), shown_url.unwrap_or(url));
    let answer = call(client, method, url, Some(subsegment.context()), json).await;
    match &answer {
        Ok(answer) => subsegment.http_status(answer.status),
        Err(message) => subsegment.exception("HttpRequestException", message, true),
    }
    subsegment.end();
    answer
}

/// Which resource an AWS call names, as the SDKs' `aws` fields.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource<'a> {
    Table(&'a str),
    Queue(&'a str),
    Topic(&'a str),
    StateMachine(&'a str),
}

/// An AWS SDK call by `parent`.
pub(crate) async fn aws(
    parent: &XSpan,
    client: &AwsClient,
    service: &str,
    operation: &str,
    resource: Resource<'_>,
    body: Value,
) -> AwsCall {
    let subsegment = parent.child(service);
    let call = client.call(service, operation, body, Some(subsegment.context())).await;
    let mut aws = Aws {
        operation: Some(operation.into()),
        region: Some("us-east-1".into()),
        request_id: Some(call.request_id.clone()),
        retries: Some(i64::from(call.retries)),
        ..Aws::default()
    };
    match resource {
        Resource::Table(table) => aws.table_name = Some(table.to_owned()),
        Resource::Queue(url) => aws.queue_url = Some(url.to_owned()),
        Resource::Topic(arn) => aws.topic_arn = Some(arn.to_owned()),
        Resource::StateMachine(arn) => {
            aws.other.insert("state_machine_arn".to_owned(), Value::String(arn.to_owned()));
        }
    }
    subsegment.aws_call(aws);
    subsegment.http_call("POST", &format!("https://{}.us-east-1.amazonaws.com/", service.to_ascii_lowercase()));
    // http_call set the remote namespace; an SDK call is `aws`.
    subsegment.aws_namespace();
    if call.status > 0 {
        subsegment.http_status(call.status);
    }
    if let Some((kind, message)) = &call.error {
        subsegment.exception(kind, message, true);
    }
    subsegment.end();
    call
}
