//! The services' client of the local AWS stand-in (`services/aws.rs`): one JSON request per
//! call, `X-Amz-Target: <Service>.<Operation>` as the AWS JSON protocol names it, and the SDKs'
//! retries: throttling and 5xx answers are retried with exponential backoff, up to 10 attempts
//! (DynamoDB's SDK default), so latency grows before errors appear.

use std::time::Duration;

use serde_json::Value;

use crate::propagation::TraceContext;

const MAX_ATTEMPTS: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
pub(crate) const THROTTLING_EXCEPTION: &str = "ProvisionedThroughputExceededException";

/// The outcome of one SDK call, after its retries.
#[derive(Debug, Clone)]
pub(crate) struct AwsCall {
    /// HTTP status of the last attempt; 0 when no answer came.
    pub status: u16,
    pub body: Value,
    pub retries: u32,
    pub request_id: String,
    /// The error type (`ProvisionedThroughputExceededException`) and message of a failed call.
    pub error: Option<(String, String)>,
}

impl AwsCall {
    pub(crate) fn ok(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AwsClient {
    http: reqwest::Client,
    base: String,
}

impl AwsClient {
    pub(crate) fn new(base: String) -> AwsClient {
        AwsClient { http: reqwest::Client::new(), base }
    }

    /// `operation` on `service` (`DynamoDB`, `SQS`, `SNS`, `S3`), retried as the SDKs do.
    pub(crate) async fn call(
        &self,
        service: &str,
        operation: &str,
        body: Value,
        context: Option<TraceContext>,
    ) -> AwsCall {
        let mut retries = 0;
        loop {
            let call = self.attempt(service, operation, &body, context).await;
            let retryable = call.status == 0 || call.status >= 500 || is_throttling(&call);
            if call.ok() || !retryable || retries + 1 >= MAX_ATTEMPTS {
                return AwsCall { retries, ..call };
            }
            let backoff = FIRST_BACKOFF.saturating_mul(1 << retries).min(MAX_BACKOFF);
            tokio::time::sleep(backoff).await;
            retries += 1;
        }
    }

    async fn attempt(&self, service: &str, operation: &str, body: &Value, context: Option<TraceContext>) -> AwsCall {
        let url = format!("{}/{}", self.base, service.to_ascii_lowercase());
        let mut request = self.http.post(url).header("x-amz-target", format!("{service}.{operation}")).json(body);
        // The SDKs send the trace header on every AWS call; traced AWS services continue it.
        for (name, value) in context.iter().flat_map(TraceContext::headers) {
            request = request.header(name, value);
        }
        let sent = request.send().await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return failed(0, "SdkClientException", &error.to_string()),
        };
        let status = response.status().as_u16();
        let request_id =
            response.headers().get("x-amzn-requestid").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let error = (status >= 300).then(|| {
            let kind = body["__type"].as_str().unwrap_or("ServiceException");
            let kind = kind.rsplit('#').next().unwrap_or(kind).to_owned();
            (kind, body["message"].as_str().unwrap_or_default().to_owned())
        });
        AwsCall { status, body, retries: 0, request_id, error }
    }
}

fn failed(status: u16, kind: &str, message: &str) -> AwsCall {
    AwsCall {
        status,
        body: Value::Null,
        retries: 0,
        request_id: String::new(),
        error: Some((kind.to_owned(), message.to_owned())),
    }
}

fn is_throttling(call: &AwsCall) -> bool {
    call.error.as_ref().is_some_and(|(kind, _)| kind == THROTTLING_EXCEPTION)
}
