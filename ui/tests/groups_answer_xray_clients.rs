//! X-Ray groups answer X-Ray clients: boto3 creates, reads, pages through, updates and deletes
//! groups, gets the modelled `InvalidRequestException` for bad ones (the filter parser's
//! column-precise message included), and sees the service graph, the time series and trace
//! searches scoped by a group. Traces arrive through PutTraceSegments (the collector's route, as
//! `fluoro serve` mounts it), and a server started afresh on the same `groups.json` knows the
//! same groups. The AWS CLI lists them too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fluoro_analyzer::Groups;
use fluoro_collector::{xray_api_router, Counters, Ingest};
use fluoro_proto::{SpanSink, TraceSource};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::python_script;

/// The ingest and query routes over `store`, with groups persisted in `groups_file`.
async fn serve(store: Arc<Store>, groups_file: &Path) -> (SocketAddr, JoinHandle<()>) {
    let groups = Arc::new(Groups::open(groups_file).unwrap());
    let ingest = Ingest::new(store.clone() as Arc<dyn SpanSink>, Arc::new(Counters::new()));
    let router =
        xray_api_router(ingest, store.clone() as Arc<dyn TraceSource>).merge(fluoro_ui::api_router(store, groups));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (address, server)
}

async fn boto3(address: SocketAddr, phase: &str, t0: u64) -> Value {
    let arguments = vec![format!("http://{address}"), phase.to_owned(), t0.to_string()];
    python_script::run("groups.py", arguments).await
}

fn refusal(message: &str) -> Value {
    json!({"code": "InvalidRequestException", "status": 400, "message": message})
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_manages_groups_and_sees_graphs_and_searches_scoped_by_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreConfig::new(dir.path().join("store"))).unwrap());
    let groups_file: PathBuf = dir.path().join("groups.json");
    // Recent, so PutTraceSegments' trace-age window accepts the traces.
    let t0 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 120;
    let (address, server) = serve(store.clone(), &groups_file).await;
    let seeded = boto3(address, "seed", t0).await;

    assert_eq!(seeded["unprocessed"], json!([]));
    let created = &seeded["created"]["Group"];
    let arn = created["GroupARN"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:xray:local:000000000000:group/slow/"), "{arn}");
    assert_eq!(
        seeded["created"],
        json!({"Group": {"GroupName": "slow", "GroupARN": arn, "FilterExpression": "responsetime > 1",
                         "InsightsConfiguration": {"InsightsEnabled": true, "NotificationsEnabled": false}}})
    );
    assert_eq!(seeded["by_name"], *created);
    assert_eq!(seeded["by_arn"], *created);
    // 16 groups (Default, slow, errors, slow-checkout, g00..g11) in pages of 10, in name order.
    assert_eq!(seeded["pages"], json!(2));
    let names = seeded["names"].as_array().unwrap();
    assert_eq!(names.len(), 16);
    assert_eq!(names[..4], [json!("Default"), json!("errors"), json!("g00"), json!("g01")]);
    assert_eq!(names[names.len() - 2..], [json!("slow"), json!("slow-checkout")]);
    assert_eq!(seeded["updated"]["FilterExpression"], json!("fault"));
    assert_eq!(
        seeded["updated"]["InsightsConfiguration"],
        json!({"InsightsEnabled": true, "NotificationsEnabled": true})
    );
    assert_eq!(seeded["deleted"], json!({}));
    assert_eq!(seeded["deleted_get"], refusal("group \"g00\" does not exist"));
    assert_eq!(seeded["invalid_filter"], refusal("expected a number after > at column 16"));
    assert_eq!(
        seeded["unknown_reference"],
        refusal("the filter expression of group \"bad\" refers to group \"missing\", which does not exist")
    );
    assert_eq!(
        seeded["loop"],
        refusal("group filter expressions refer to each other in a loop: \"slow\" → \"slow-checkout\" → \"slow\"")
    );
    assert_eq!(seeded["delete_default"], refusal("the Default group cannot be deleted"));
    assert_eq!(
        seeded["filter_default"],
        refusal("the Default group holds every trace; its FilterExpression cannot be set")
    );

    // Name/Type; the segments carry no origin, so services have an empty type.
    let everything = json!(["catalog/", "catalog/client", "checkout/", "checkout/client", "payments/"]);
    let slow = json!(["checkout/", "checkout/client", "payments/"]);
    assert_eq!(seeded["graph_all"], everything, "no group is the Default group");
    assert_eq!(seeded["graph_default"], everything);
    assert_eq!(seeded["graph_slow"], slow, "only the services of the slow trace");
    assert_eq!(seeded["graph_slow_by_arn"], slow);
    assert_eq!(seeded["graph_errors"], json!([]), "no trace faulted");
    assert_eq!(seeded["graph_unknown"], refusal("group \"nope\" does not exist"));
    assert_eq!(seeded["series_slow"], json!({"checkout": 1, "catalog": 0}));
    let slow_trace = format!("1-{t0:08x}-{:024x}", 1);
    assert_eq!(seeded["summaries_slow"], json!([slow_trace]));
    assert_eq!(seeded["summaries_not_slow"], json!([format!("1-{t0:08x}-{:024x}", 2)]));
    assert_eq!(seeded["summaries_unknown"], refusal("group \"nope\" does not exist"));

    let cli = Command::new("aws")
        .args(["xray", "get-groups", "--output", "json", "--region", "us-east-1"])
        .args(["--endpoint-url", &format!("http://{address}")])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("the AWS CLI runs (see requirements-test.txt)");
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let listed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(listed["Groups"].as_array().unwrap().len(), 15, "the CLI follows NextToken itself");

    // A new registry from the same file, as `fluoro serve` opens it after a restart.
    server.abort();
    let (address, _server) = serve(store, &groups_file).await;
    let restarted = boto3(address, "restarted", t0).await;
    assert_eq!(restarted["by_name"], *created, "same ARN, filter and insights");
    assert_eq!(restarted["updated"], seeded["updated"]);
    let remaining: Vec<&Value> = names.iter().filter(|name| *name != "g00").collect();
    assert_eq!((&restarted["pages"], &restarted["names"]), (&json!(2), &json!(remaining)), "g00 was deleted");
    assert_eq!(restarted["graph_slow_checkout"], slow, "a group that refers to a group");
    assert_eq!(restarted["summaries_slow_checkout"], json!([slow_trace]));
}
