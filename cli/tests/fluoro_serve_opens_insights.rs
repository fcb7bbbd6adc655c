//! `fluoro serve` runs X-Ray Insights continuously: a timeline of past minutes is sent with
//! boto3's PutTraceSegments (`python/insights_timeline.py`: catalog's fault rate jumps from 1 %
//! to 40 % for ten minutes), the server evaluates the closed minutes after a restart, and
//! boto3's GetInsightSummaries / GetInsight / GetInsightEvents / GetInsightImpactGraph and
//! `trace insights` show one insight naming catalog — not its callers — opened and closed at
//! the planted minutes; a webhook gets the opening and the closing once each (after a 500); it
//! survives another restart.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::FluoroServer;
use crate::webhook_receiver::{delivered_messages, webhook_receiver, Received};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/insights_timeline.py");

fn python(command: &str, server: &FluoroServer, base: i64, extra: &[&str]) -> Value {
    let run = Command::new("python3")
        .arg(SCRIPT)
        .arg(command)
        .arg(server.url(""))
        .arg(base.to_string())
        .args(extra)
        .output()
        .unwrap();
    assert!(run.status.success(), "insights_timeline.py {command} failed: {}", String::from_utf8_lossy(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap()
}

fn start(data_dir: &Path, config: &Path) -> FluoroServer {
    FluoroServer::start_with(data_dir, &[OsStr::new("--config"), config.as_os_str()])
}

fn names(services: &Value, member: &str) -> Vec<String> {
    let names = services.as_array().unwrap().iter().map(|s| s[member]["Name"].as_str().unwrap().to_owned());
    let mut names: Vec<String> = names.collect();
    names.sort();
    names
}

/// A server whose data dir holds the planted timeline (catalog's segments with `catalog_origin`)
/// and its one closed insight, evaluated by the loop after a restart; and the timeline's start.
/// The config files are written into `data_dir`: `idle.toml` (the loop waits) and `busy.toml`.
/// With a `webhook`, the Default group notifies and the busy server posts insights there.
pub(crate) fn serve_a_closed_insight(
    data_dir: &Path,
    catalog_origin: &str,
    webhook: Option<&str>,
) -> (FluoroServer, i64) {
    let idle = data_dir.join("idle.toml");
    std::fs::write(&idle, "[insights]\ntick_seconds = 3600\n").unwrap();
    let busy = data_dir.join("busy.toml");
    let webhooks = webhook.map(|url| format!("webhooks = [\"{url}\"]\n")).unwrap_or_default();
    let busy_config = format!("[insights]\ntick_seconds = 0.5\ngrace_seconds = 30\nbackfill_minutes = 120\n{webhooks}");
    std::fs::write(&busy, busy_config).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let base = now - now % 60 - 100 * 60;

    // Sent while the loop waits, so that every minute is whole when it is evaluated.
    let server = start(data_dir, &idle);
    assert_eq!(python("send", &server, base, &[catalog_origin])["documents"], 9450);
    if webhook.is_some() {
        let notify = json!({"InsightsEnabled": true, "NotificationsEnabled": true});
        server.post("/UpdateGroup", json!({"GroupName": "Default", "InsightsConfiguration": notify}));
    }
    assert!(server.stop().success());

    let server = start(data_dir, &busy);
    let closed_insights = json!({"StartTime": base, "EndTime": now + 60, "GroupName": "Default", "States": ["CLOSED"]});
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let closed = server.post("/InsightSummaries", closed_insights.clone());
        if closed["InsightSummaries"].as_array().is_some_and(|list| !list.is_empty()) {
            return (server, base);
        }
        assert!(Instant::now() < deadline, "no insight closed: {closed}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_planted_fault_jump_opens_and_closes_one_insight_naming_the_root_cause() {
    let data_dir = tempfile::tempdir().unwrap();
    let (hook, received) = webhook_receiver(1);
    let (server, base) = serve_a_closed_insight(data_dir.path(), "AWS::ECS::Container", Some(&hook));
    let answer = python("query", &server, base, &[]);
    assert_eq!(answer["summaries"].as_array().unwrap().len(), 1, "{answer:#}");
    assert_eq!((answer["closed"].as_u64(), answer["active"].as_u64()), (Some(1), Some(0)));
    let insight = &answer["insight"];
    let mut summary = answer["summaries"][0].clone();
    let last_update = summary.as_object_mut().unwrap().remove("LastUpdateTime").unwrap();
    assert_eq!(last_update.as_f64(), Some((base + 83 * 60) as f64), "the closing minute's end");
    assert_eq!(insight, &summary, "GetInsight and the summary agree (Insight has no LastUpdateTime)");
    assert_eq!(insight["RootCauseServiceId"]["Name"], "catalog", "its callers fault too: {insight:#}");
    assert_eq!(insight["RootCauseServiceId"]["Type"], "AWS::ECS::Container");
    assert_eq!(insight["Categories"], json!(["FAULT"]));
    assert_eq!(insight["State"], "CLOSED");
    assert_eq!(insight["StartTime"].as_f64(), Some((base + 70 * 60) as f64));
    assert_eq!(insight["EndTime"].as_f64(), Some((base + 80 * 60) as f64));
    assert_eq!(insight["ClientRequestImpactStatistics"]["TotalCount"], 300);
    assert_eq!(insight["RootCauseServiceRequestImpactStatistics"]["TotalCount"], 300);
    assert_eq!(insight["RootCauseServiceRequestImpactStatistics"]["FaultCount"], 130, "the timeline's planted faults");
    assert_eq!(names(&insight["TopAnomalousServices"], "ServiceId"), ["catalog", "frontend", "search"]);
    let events: Vec<&str> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["Summary"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(events, ["closed", "impact updated", "opened"]);
    let mut graph: Vec<&str> =
        answer["graph"].as_array().unwrap().iter().map(|s| s["Name"].as_str().unwrap()).collect();
    graph.sort();
    assert_eq!(graph, ["catalog", "frontend", "search"], "cart is not impacted");
    assert!(answer["unknown"].as_str().unwrap().contains("does not exist"), "{answer:#}");

    let listed = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["insights", "--state", "closed", "--since", "3h", "--server", &server.url("")])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(table.lines().nth(1).is_some_and(|row| row.starts_with("CLOSED") && row.contains("catalog")), "{table}");
    let none = Command::new(env!("CARGO_BIN_EXE_trace"))
        .args(["insights", "--state", "active", "--since", "3h", "--server", &server.url("")])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1), "nothing active");
    assert_insight_notifications(&received, insight);
    assert!(server.stop().success());

    let server = start(data_dir.path(), &data_dir.path().join("idle.toml"));
    let kept = server.post("/Insight", json!({"InsightId": insight["InsightId"]}));
    assert_eq!(kept["Insight"]["RootCauseServiceId"]["Name"], "catalog");
    assert_eq!(kept["Insight"]["EndTime"].as_f64(), Some((base + 80 * 60) as f64));
    let events = server.post("/InsightEvents", json!({"InsightId": insight["InsightId"]}));
    assert_eq!(events["InsightEvents"].as_array().unwrap().len(), 3);
    assert!(server.stop().success());
}

/// The webhook got the opening and the closing, once each (the first attempt answered 500 and
/// was retried), as X-Ray's EventBridge events.
fn assert_insight_notifications(received: &Received, insight: &Value) {
    let messages = delivered_messages(received, 2, Duration::from_secs(30));
    // The opening's retry may come after the closing: deliveries run side by side.
    let mut states: Vec<&str> = messages.iter().map(|m| m["detail"]["State"].as_str().unwrap()).collect();
    states.sort_unstable();
    assert_eq!(states, ["ACTIVE", "CLOSED"], "{messages:#?}");
    for message in &messages {
        assert_eq!(message["detail-type"], "AWS X-Ray Insight Update");
        assert_eq!(message["source"], "aws.xray");
        assert_eq!(message["detail"]["InsightId"], insight["InsightId"]);
        assert_eq!(message["detail"]["RootCauseServiceId"]["Name"], "catalog");
        assert_eq!(message["resources"][0], insight["GroupARN"]);
    }
    let attempts = received.lock().unwrap().len();
    assert_eq!(attempts, 3, "one 500 and its retry, then the closing: nothing twice");
}
