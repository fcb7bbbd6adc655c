//! What the notifier did: counters (Prometheus text on `/metrics`) and the last status of each
//! (source, URL) pair, bounded, for `GET /api/notifications` and the dashboard's Alarms page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::delivery::Delivery;

/// (source, URL) pairs remembered; beyond it the least recently updated is forgotten.
/// 1000 alarms × 5 URLs, plus room for other sources.
const MAX_STATUSES: usize = 6000;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// An attempt is under way.
    Sending,
    /// An attempt failed; another follows after the backoff.
    Retrying,
    Delivered,
    /// Refused by the receiver or out of attempts.
    Failed,
    /// Pushed out of the full queue before its first attempt.
    Dropped,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

/// The last thing that happened to a source's notification at one URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryStatus {
    pub source: String,
    pub url: String,
    pub subject: String,
    pub message_id: String,
    pub outcome: DeliveryOutcome,
    pub attempts: u32,
    pub error: Option<String>,
    /// Unix seconds.
    pub updated: i64,
}

/// Totals since the server started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotificationCounts {
    /// Deliveries queued (one per notification and URL).
    pub queued: u64,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Attempts after a failed one.
    pub retries: u64,
    /// Deliveries waiting for a slot now.
    pub queue_depth: u64,
}

/// `GET /api/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotificationsSnapshot {
    pub counts: NotificationCounts,
    pub deliveries: Vec<DeliveryStatus>,
}

#[derive(Debug, Default)]
pub(super) struct Status {
    queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    last: Mutex<BTreeMap<(String, String), DeliveryStatus>>,
}

impl Status {
    pub(super) fn queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn attempted(&self, delivery: &Delivery, attempt: u32) {
        if attempt > 1 {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        self.record(delivery, DeliveryOutcome::Sending, attempt, None);
    }

    pub(super) fn retrying(&self, delivery: &Delivery, attempt: u32, error: &str) {
        self.record(delivery, DeliveryOutcome::Retrying, attempt, Some(error.to_owned()));
    }

    pub(super) fn finished(&self, delivery: &Delivery, outcome: DeliveryOutcome, attempts: u32, error: Option<String>) {
        let counter = match outcome {
            DeliveryOutcome::Delivered => &self.delivered,
            DeliveryOutcome::Dropped => &self.dropped,
            _ => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.record(delivery, outcome, attempts, error);
    }

    fn record(&self, delivery: &Delivery, outcome: DeliveryOutcome, attempts: u32, error: Option<String>) {
        let status = DeliveryStatus {
            source: delivery.source.clone(),
            url: delivery.url.clone(),
            subject: delivery.subject.clone(),
            message_id: delivery.message_id.clone(),
            outcome,
            attempts,
            error,
            updated: unix_now(),
        };
        let key = (status.source.clone(), status.url.clone());
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if !last.contains_key(&key) && last.len() >= MAX_STATUSES {
            let oldest = last.iter().min_by_key(|(_, status)| status.updated).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                last.remove(&oldest);
            }
        }
        last.insert(key, status);
    }

    fn counts(&self, queue_depth: usize) -> NotificationCounts {
        NotificationCounts {
            queued: self.queued.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            queue_depth: queue_depth as u64,
        }
    }

    pub(super) fn snapshot(&self, queue_depth: usize) -> NotificationsSnapshot {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        NotificationsSnapshot { counts: self.counts(queue_depth), deliveries: last.values().cloned().collect() }
    }

    pub(super) fn prometheus(&self, queue_depth: usize) -> String {
        let counts = self.counts(queue_depth);
        let mut text = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(text, "{name}{labels} {value}");
            }
        };
        metric(
            "fluoro_notification_deliveries_total",
            "counter",
            "Webhook deliveries (one per notification and URL) by outcome.",
            &[
                ("{outcome=\"delivered\"}", counts.delivered),
                ("{outcome=\"failed\"}", counts.failed),
                ("{outcome=\"dropped\"}", counts.dropped),
            ],
        );
        metric("fluoro_notification_queued_total", "counter", "Webhook deliveries queued.", &[("", counts.queued)]);
        metric(
            "fluoro_notification_retries_total",
            "counter",
            "Webhook attempts made after a failed attempt.",
            &[("", counts.retries)],
        );
        metric(
            "fluoro_notification_queue_depth",
            "gauge",
            "Webhook deliveries waiting for a slot.",
            &[("", counts.queue_depth)],
        );
        text
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
