//! One delivery: the SNS HTTP/S notification document for one URL, and its attempts.
//!
//! The body (SNS's "HTTP/HTTPS notification JSON format", unsigned: Fluoro has no signing key):
//! ```text
//! {"Type": "Notification", "MessageId": "<uuid, the same on every attempt and URL>",
//!  "TopicArn": "arn:aws:sns:local:000000000000:fluoro-notifications",
//!  "Subject": "ALARM: \"slow\" in local", "Message": "<the message document as a JSON string>",
//!  "Timestamp": "2026-12-04T10:02:00.000Z"}
//! ```
//! with headers `x-amz-sns-message-type: Notification`, `x-amz-sns-message-id`,
//! `x-amz-sns-topic-arn` and `Content-Type: application/json`.

use std::sync::Arc;
use std::time::Duration;

use fluoro_analyzer::notification_time;
use fluoro_proto::{ARN_ACCOUNT, ARN_REGION};

use super::status::{DeliveryOutcome, Status};
use super::{Notification, NotifierConfig};

/// Errors longer than this are cut in statuses and logs.
const MAX_ERROR_CHARS: usize = 300;

/// One notification on its way to one URL.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    pub(super) source: String,
    pub(super) subject: String,
    pub(super) message_id: String,
    pub(super) url: String,
    pub(super) body: Arc<[u8]>,
}

impl Delivery {
    /// The deliveries of `notification`, one per URL, sharing one body and one `MessageId`.
    pub(super) fn per_url(notification: &Notification) -> Vec<Delivery> {
        let message_id = uuid::Uuid::new_v4().to_string();
        let body: Arc<[u8]> = envelope(notification, &message_id).into();
        notification
            .urls
            .iter()
            .map(|url| Delivery {
                source: notification.source.clone(),
                subject: notification.subject.clone(),
                message_id: message_id.clone(),
                url: url.clone(),
                body: body.clone(),
            })
            .collect()
    }
}

pub(super) fn topic_arn() -> String {
    format!("arn:aws:sns:{ARN_REGION}:{ARN_ACCOUNT}:fluoro-notifications")
}

fn envelope(notification: &Notification, message_id: &str) -> Vec<u8> {
    let document = serde_json::json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn(),
        "Subject": notification.subject,
        "Message": notification.message.to_string(),
        "Timestamp": notification_time(notification.timestamp).replace("+0000", "Z"),
    });
    document.to_string().into_bytes()
}

/// What one attempt came to.
#[derive(Debug, PartialEq)]
enum Attempt {
    Delivered,
    /// Worth another attempt: no answer, a connection error, 5xx, 408, 429.
    Retryable(String),
    /// The receiver refused the document: another attempt would be refused too.
    Refused(String),
}

/// Attempts `delivery` until it is delivered, refused or out of attempts, then records the outcome.
pub(super) async fn deliver(client: &reqwest::Client, config: &NotifierConfig, status: &Status, delivery: Delivery) {
    let max_attempts = config.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        status.attempted(&delivery, attempt);
        let (outcome, error) = match send_once(client, &delivery).await {
            Attempt::Delivered => (DeliveryOutcome::Delivered, None),
            Attempt::Refused(error) => (DeliveryOutcome::Failed, Some(error)),
            Attempt::Retryable(error) if attempt >= max_attempts => (DeliveryOutcome::Failed, Some(error)),
            Attempt::Retryable(error) => {
                let wait = backoff(config, attempt);
                tracing::info!(
                    source = %delivery.source,
                    url = %delivery.url,
                    message_id = %delivery.message_id,
                    attempt,
                    retry_in_ms = wait.as_millis() as u64,
                    error = %error,
                    "notification attempt failed; retrying"
                );
                status.retrying(&delivery, attempt, &error);
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
        };
        log_outcome(&delivery, outcome, attempt, error.as_deref());
        status.finished(&delivery, outcome, attempt, error);
        return;
    }
}

fn log_outcome(delivery: &Delivery, outcome: DeliveryOutcome, attempts: u32, error: Option<&str>) {
    let (source, url, id, subject) = (&delivery.source, &delivery.url, &delivery.message_id, &delivery.subject);
    match error {
        None => {
            tracing::info!(source = %source, url = %url, message_id = %id, subject = %subject, attempts, "notification delivered")
        }
        Some(error) => tracing::warn!(
            source = %source, url = %url, message_id = %id, subject = %subject, attempts, outcome = outcome.as_str(),
            error = %error, "notification not delivered"
        ),
    }
}

async fn send_once(client: &reqwest::Client, delivery: &Delivery) -> Attempt {
    let request = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-amz-sns-message-type", "Notification")
        .header("x-amz-sns-message-id", &delivery.message_id)
        .header("x-amz-sns-topic-arn", topic_arn())
        .body(delivery.body.to_vec());
    match request.send().await {
        Ok(response) => classify(response.status().as_u16()),
        Err(error) if error.is_builder() => Attempt::Refused(cut(&format!("invalid webhook URL: {error}"))),
        Err(error) => Attempt::Retryable(cut(&describe(&error))),
    }
}

fn classify(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retryable(format!("the webhook answered HTTP {status}")),
        _ => Attempt::Refused(format!("the webhook answered HTTP {status}")),
    }
}

/// reqwest's top-level message hides the cause ("error sending request"); the chain names it.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer within the attempt timeout".to_owned();
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// `first_backoff` × 2^(attempt − 1), at most `max_backoff`.
fn backoff(config: &NotifierConfig, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    config.first_backoff.saturating_mul(factor).min(config.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let config = NotifierConfig {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..NotifierConfig::default()
        };
        let waits: Vec<u128> = (1..=5).map(|attempt| backoff(&config, attempt).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(backoff(&config, u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn only_transient_answers_are_retried() {
        assert_eq!(classify(204), Attempt::Delivered);
        for status in [500, 503, 408, 429] {
            assert!(matches!(classify(status), Attempt::Retryable(_)), "{status}");
        }
        for status in [301, 400, 404, 410] {
            assert!(matches!(classify(status), Attempt::Refused(_)), "{status}");
        }
    }

    #[test]
    fn every_url_gets_the_same_message_id_and_body() {
        let notification = Notification {
            source: "alarm/slow".to_owned(),
            subject: "ALARM: \"slow\" in local".to_owned(),
            message: serde_json::json!({"AlarmName": "slow"}),
            timestamp: 1_796_378_520,
            urls: vec!["http://a/".to_owned(), "http://b/".to_owned()],
        };
        let deliveries = Delivery::per_url(&notification);
        assert_eq!(deliveries.len(), 2);
        assert_eq!(deliveries[0].message_id, deliveries[1].message_id);
        let body: serde_json::Value = serde_json::from_slice(&deliveries[1].body).unwrap();
        assert_eq!(body["Type"], "Notification");
        assert_eq!(body["MessageId"], deliveries[0].message_id.as_str());
        assert_eq!(body["Message"], r#"{"AlarmName":"slow"}"#);
        assert_eq!(body["Timestamp"], "2026-12-04T10:02:00.000Z");
    }
}
