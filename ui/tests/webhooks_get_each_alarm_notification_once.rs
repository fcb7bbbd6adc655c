//! Alarm transitions from the real `Alarms::evaluate` over a fixed minute-by-minute timeline go
//! through the notifier to real HTTP receivers on 127.0.0.1: a receiver that answers 500 once
//! gets every notification exactly once (the failed one after a retry, with the same MessageId);
//! a receiver that never answers and a port nobody listens on are bounded, counted as failed, and
//! hold nothing else up; a full queue drops its oldest delivery and counts it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use fluoro_analyzer::{
    AlarmRule, AlarmStatistic, Alarms, ComparisonOperator, MetricId, MetricSource, PutMetricAlarm, Timeline,
    TreatMissingData,
};
use fluoro_ui::{spawn_notifier, DeliveryOutcome, Notification, NotifierConfig, NotifierHandle};
use serde_json::Value;

/// 2026-12-04 10:00:00 UTC.
const T0: i64 = 1_796_378_400;

/// Every metric has the same per-minute values: 5, 7, 9 breach the threshold 2, then 1 does not.
struct FixedTimeline(Timeline);

impl MetricSource for FixedTimeline {
    fn timeline(&self, _metric: &MetricId, _statistic: AlarmStatistic, _period: i64, from: i64, to: i64) -> Timeline {
        self.0.range(from..to).map(|(&at, &value)| (at, value)).collect()
    }
}

/// What the receiver got: the message id header, the parsed body, and what it answered.
type Received = Arc<Mutex<Vec<(String, Value, u16)>>>;

/// Answers the first request with 500, every later one with 200.
async fn flaky_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let hook = |State(received): State<Received>, headers: HeaderMap, body: String| async move {
        let mut received = received.lock().unwrap();
        let status = if received.is_empty() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        assert_eq!(headers["x-amz-sns-message-type"], "Notification");
        assert_eq!(headers["content-type"], "application/json");
        let id = headers["x-amz-sns-message-id"].to_str().unwrap().to_owned();
        received.push((id, serde_json::from_str(&body).unwrap(), status.as_u16()));
        status
    };
    let app = Router::new().route("/hook", post(hook)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), received)
}

/// Accepts connections and never answers.
async fn silent_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}/hook")
}

/// A port that was just free: connecting is refused.
fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/hook")
}

fn alarm(name: &str, actions: Vec<String>) -> PutMetricAlarm {
    PutMetricAlarm {
        alarm_name: name.to_owned(),
        alarm_description: format!("{name} traces"),
        metric: MetricId {
            namespace: "AWS/X-Ray".to_owned(),
            metric_name: "ApproximateTraceCount".to_owned(),
            dimensions: BTreeMap::from([("GroupName".to_owned(), "slow".to_owned())]),
        },
        statistic: AlarmStatistic::Sum,
        rule: AlarmRule {
            period: 60,
            evaluation_periods: 2,
            datapoints_to_alarm: 2,
            comparison_operator: ComparisonOperator::GreaterThanThreshold,
            threshold: 2.0,
            treat_missing_data: TreatMissingData::NotBreaching,
        },
        alarm_actions: actions,
    }
}

fn quick_config() -> NotifierConfig {
    NotifierConfig {
        max_attempts: 3,
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        attempt_timeout: Duration::from_millis(1500),
        ..NotifierConfig::default()
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn delivered_ids(received: &Received) -> Vec<String> {
    received.lock().unwrap().iter().filter(|(_, _, status)| *status == 200).map(|(id, _, _)| id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transition_reaches_the_webhook_once_and_failures_are_bounded_and_counted() {
    let (receiver_url, received) = flaky_receiver().await;
    let (silent_url, refused_url) = (silent_receiver().await, unreachable_url());
    let alarms = Alarms::in_memory();
    alarms.put(alarm("slow", vec![refused_url.clone(), receiver_url.clone()]), T0).unwrap();
    alarms.put(alarm("silent", vec![silent_url.clone()]), T0).unwrap();
    let source = FixedTimeline(Timeline::from([(T0, 5.0), (T0 + 60, 7.0), (T0 + 120, 9.0), (T0 + 180, 1.0)]));
    let notifier = spawn_notifier(quick_config());

    // Once a minute, as the server's loop does: OK at 10:01, ALARM at 10:02, OK again at 10:04.
    // Half through the channel the evaluation loop of `fluoro serve` holds, half directly.
    let hook = notifier.alarm_transition_sender();
    let mut history = Vec::new();
    for minute in 1..=5 {
        let transitions = alarms.evaluate(&source, T0 + 60 * minute).unwrap();
        if minute % 2 == 0 {
            for transition in &transitions {
                hook.send(transition.clone()).await.unwrap();
            }
        } else {
            notifier.notify_alarm_transitions(&transitions);
        }
        history.extend(transitions.into_iter().filter(|(alarm, _)| alarm.definition.alarm_name == "slow"));
    }
    let states: Vec<(i64, &str)> = history.iter().map(|(_, item)| (item.timestamp, item.new_state.as_str())).collect();
    assert_eq!(states, [(T0 + 60, "OK"), (T0 + 120, "ALARM"), (T0 + 240, "OK")]);

    wait_until("three notifications are delivered", || delivered_ids(&received).len() == 3).await;
    // The dead webhooks are still being tried: they held nothing up.
    let counts = notifier.snapshot().counts;
    assert!(counts.failed < 6, "the receiver was served only after the dead webhooks gave up: {counts:?}");

    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "three notifications plus one retry: {got:#?}");
    let (first_id, _, first_status) = &got[0];
    assert_eq!(*first_status, 500);
    let mut ids = delivered_ids(&received);
    assert!(ids.contains(first_id), "the notification answered with 500 came again with its MessageId");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each notification was delivered once");

    let alarm_document = got.iter().find(|(_, body, _)| body["Subject"] == "ALARM: \"slow\" in local").unwrap();
    let (id, envelope, _) = alarm_document;
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["MessageId"], id.as_str());
    assert_eq!(envelope["TopicArn"], "arn:aws:sns:local:000000000000:fluoro-notifications");
    assert_eq!(envelope["Timestamp"], "2026-12-04T10:02:00.000Z");
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    let alarm_item = &history[1].1;
    assert_eq!(message["AlarmName"], "slow");
    assert_eq!(message["AlarmDescription"], "slow traces");
    assert_eq!(message["NewStateValue"], "ALARM");
    assert_eq!(message["OldStateValue"], "OK");
    assert_eq!(message["NewStateReason"], alarm_item.reason.as_str());
    assert!(alarm_item.reason.starts_with("Threshold Crossed: 2 out of the last 2 datapoints [7.0"));
    assert_eq!(message["StateChangeTime"], "2026-12-04T10:02:00.000+0000");
    assert_eq!(message["AlarmArn"], "arn:aws:cloudwatch:local:000000000000:alarm:slow");
    let trigger = &message["Trigger"];
    assert_eq!(trigger["MetricName"], "ApproximateTraceCount");
    assert_eq!(trigger["Namespace"], "AWS/X-Ray");
    assert_eq!(trigger["Statistic"], "SUM");
    assert_eq!(trigger["Dimensions"], serde_json::json!([{"name": "GroupName", "value": "slow"}]));
    assert_eq!(trigger["Period"], 60);
    assert_eq!(trigger["EvaluationPeriods"], 2);
    assert_eq!(trigger["DatapointsToAlarm"], 2);
    assert_eq!(trigger["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(trigger["Threshold"], 2.0);
    assert_eq!(trigger["TreatMissingData"], "notBreaching");

    // Three tries each (one timeout each for the silent one), then failed: 3 + 3 deliveries.
    wait_until("the dead webhooks are given up", || notifier.snapshot().counts.failed == 6).await;
    let snapshot = notifier.snapshot();
    assert_eq!(snapshot.counts.delivered, 3);
    assert_eq!(snapshot.counts.queued, 9);
    assert_eq!(snapshot.counts.retries, 2 * 3 + 2 * 3 + 1);
    let status = |source: &str, url: &str| {
        snapshot.deliveries.iter().find(|status| status.source == source && status.url == url).unwrap().clone()
    };
    let silent = status("alarm/silent", &silent_url);
    assert_eq!((silent.outcome, silent.attempts), (DeliveryOutcome::Failed, 3));
    assert_eq!(silent.error.as_deref(), Some("no answer within the attempt timeout"));
    let refused = status("alarm/slow", &refused_url);
    assert_eq!((refused.outcome, refused.attempts), (DeliveryOutcome::Failed, 3));
    assert!(refused.error.as_deref().unwrap().contains("onnection refused"), "{refused:?}");
    let delivered = status("alarm/slow", &receiver_url);
    // The last to finish: the retried one or the newest, whichever came later.
    assert_eq!((delivered.outcome, delivered.error), (DeliveryOutcome::Delivered, None));
    assert!(["OK: \"slow\" in local", "ALARM: \"slow\" in local"].contains(&delivered.subject.as_str()));
    let prometheus = notifier.prometheus();
    assert!(prometheus.contains("fluoro_notification_deliveries_total{outcome=\"failed\"} 6\n"), "{prometheus}");
    assert!(prometheus.contains("fluoro_notification_deliveries_total{outcome=\"delivered\"} 3\n"));
    assert!(prometheus.contains("fluoro_notification_retries_total 13\n"));
}

fn note(source: &str, url: &str) -> Notification {
    Notification {
        source: source.to_owned(),
        subject: format!("{source} happened"),
        message: serde_json::json!({"What": source}),
        timestamp: T0,
        urls: vec![url.to_owned()],
    }
}

fn outcome_of(notifier: &NotifierHandle, source: &str) -> Option<DeliveryOutcome> {
    notifier.snapshot().deliveries.iter().find(|status| status.source == source).map(|status| status.outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_its_oldest_delivery_and_counts_it() {
    let silent_url = silent_receiver().await;
    let config = NotifierConfig { queue_capacity: 2, max_in_flight: 1, max_attempts: 1, ..quick_config() };
    let notifier = spawn_notifier(config);
    notifier.notify(note("n1", &silent_url));
    wait_until("n1 is under way", || outcome_of(&notifier, "n1") == Some(DeliveryOutcome::Sending)).await;
    for source in ["n2", "n3", "n4", "n5"] {
        notifier.notify(note(source, &silent_url));
    }
    let snapshot = notifier.snapshot();
    assert_eq!((snapshot.counts.dropped, snapshot.counts.queue_depth), (2, 2));
    assert_eq!(outcome_of(&notifier, "n2"), Some(DeliveryOutcome::Dropped));
    assert_eq!(outcome_of(&notifier, "n3"), Some(DeliveryOutcome::Dropped));
    assert!(notifier.prometheus().contains("fluoro_notification_deliveries_total{outcome=\"dropped\"} 2\n"));
    // The newest two wait their turn and are tried (and fail: nobody answers).
    wait_until("n4 and n5 are tried", || {
        [outcome_of(&notifier, "n4"), outcome_of(&notifier, "n5")] == [Some(DeliveryOutcome::Failed); 2]
    })
    .await;
}
