//! Sampling rules created through Fluoro's API (with boto3) come back in the shapes botocore
//! parses, and the real aws-xray-sdk, polling Fluoro as its daemon's TCP port, follows them: a
//! `/health*` rule with no reservoir and rate 0 stops health checks from being sampled while
//! other requests still are.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use fluoro_collector::{sampling_router, SamplingRules};
use serde_json::{json, Value};

/// Serves the sampling endpoints on an ephemeral port for the rest of the test.
async fn serve(rules: Arc<SamplingRules>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sampling_router(rules)).await });
    address
}

async fn run_python(script: &str, arguments: Vec<String>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let run = tokio::task::spawn_blocking(move || Command::new("python3").arg(script).args(arguments).output())
        .await
        .unwrap()
        .expect("python3 runs (see requirements-test.txt)");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "python failed:\n{stderr}");
    serde_json::from_slice(&run.stdout).unwrap_or_else(|error| panic!("{error}; stderr:\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_creates_updates_gets_and_deletes_rules() {
    let directory = tempfile::tempdir().unwrap();
    let rules = Arc::new(SamplingRules::open(&directory.path().join("sampling-rules.json")).unwrap());
    let address = serve(rules.clone()).await;
    let out = run_python("sampling_rules_api.py", vec![format!("http://{address}")]).await;

    let created = &out["create"]["SamplingRuleRecord"];
    assert_eq!(created["SamplingRule"]["RuleARN"], "arn:aws:xray:local:000000000000:sampling-rule/orders");
    assert_eq!(created["SamplingRule"]["Attributes"], json!({"tier": "gold"}));
    assert_eq!(created["CreatedAt"]["aware"], true, "botocore parsed an epoch-seconds timestamp");
    assert_eq!(
        out["duplicate"],
        json!({"code": "InvalidRequestException", "message": "a sampling rule named 'orders' already exists", "status": 400})
    );
    assert_eq!(out["bad_priority"]["message"], "Priority must be between 1 and 9999, got 10000");
    assert_eq!(out["update"]["SamplingRuleRecord"]["SamplingRule"]["FixedRate"], 0.5);
    assert_eq!(out["update"]["SamplingRuleRecord"]["SamplingRule"]["ReservoirSize"], 3, "absent fields are kept");
    assert_eq!(
        out["update_default_path"]["message"],
        "only FixedRate and ReservoirSize of the Default rule can be updated, got URLPath"
    );
    assert_eq!(
        out["update_missing"],
        json!({"code": "ResourceNotFoundException", "message": "no sampling rule named 'nope'", "status": 404})
    );

    let records = out["get"]["SamplingRuleRecords"].as_array().unwrap();
    let names: Vec<_> = records.iter().map(|record| record["SamplingRule"]["RuleName"].clone()).collect();
    assert_eq!(names, [json!("orders"), json!("Default")]);
    let default = &records[1]["SamplingRule"];
    assert_eq!((default["Priority"].clone(), default["ReservoirSize"].clone()), (json!(10000), json!(1)));
    assert_eq!(default["FixedRate"], 0.05);
    assert_eq!(out["paginated"], json!(["orders", "Default"]), "one page, no NextToken");

    let targets = &out["targets"];
    let target = &targets["SamplingTargetDocuments"][0];
    assert_eq!((target["RuleName"].clone(), target["ReservoirQuota"].clone()), (json!("orders"), json!(3)));
    assert_eq!((target["FixedRate"].clone(), target["Interval"].clone()), (json!(0.5), json!(10)));
    assert_eq!(target["ReservoirQuotaTTL"]["aware"], true);
    assert_eq!(targets["LastRuleModification"]["aware"], true);
    assert_eq!(targets["UnprocessedStatistics"][0]["RuleName"], "ghost");
    let summary = &out["summaries"]["SamplingStatisticSummaries"][0];
    assert_eq!(summary["RuleName"], "orders");
    assert_eq!(
        (summary["RequestCount"].clone(), summary["SampledCount"].clone(), summary["BorrowCount"].clone()),
        (json!(10), json!(4), json!(1))
    );

    assert_eq!(out["delete_default"]["message"], "the Default rule cannot be deleted");
    assert_eq!(out["delete"]["SamplingRuleRecord"]["SamplingRule"]["RuleName"], "orders");
    assert_eq!(out["after_delete"], json!(["Default"]));
    // Everything went through the file: a restart sees the same rules.
    let reopened = SamplingRules::open(&directory.path().join("sampling-rules.json")).unwrap();
    assert_eq!(reopened.rules(), rules.rules());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_xray_sdk_stops_sampling_health_checks_when_a_rule_says_so() {
    let rules = Arc::new(SamplingRules::in_memory());
    // The same router on two ports, as the server mounts it: the daemon's TCP port for the SDK,
    // the API port for the rule administration.
    let daemon = serve(rules.clone()).await;
    let api = serve(rules.clone()).await;
    // Somewhere for the SDK's UDP emitter to send to; nothing is emitted by should_trace.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let arguments =
        vec![daemon.port().to_string(), udp.local_addr().unwrap().port().to_string(), format!("http://{api}")];
    let out = run_python("sampling_sdk.py", arguments).await;

    assert_eq!(out["fetched"], json!(["health-checks", "Default"]), "the SDK fetched the rules, in order");
    assert_eq!(out["health_before_targets"], json!(vec![false; 20]), "no reservoir to borrow from, rate 0");
    assert_eq!(out["orders_first"], "Default", "other requests borrow from Default's reservoir");
    assert_eq!(out["health_quota"]["quota"], 0);
    let ttl_in = out["health_quota"]["ttl_in"].as_i64().unwrap();
    assert!((13..=15).contains(&ttl_in), "quota valid ~15 s, got {ttl_in}");
    assert_eq!(out["health_after_targets"], json!(vec![false; 20]));
    assert_eq!(out["other_after_targets"], "Default", "Default's quota of 1/s is this client's alone");
    assert_eq!(out["refetched_path"], "/healthz*", "LastRuleModification made the SDK refetch the rules");
    assert_eq!(out["summaries"]["health-checks"], 20, "the SDK reported every health check it saw");
}
