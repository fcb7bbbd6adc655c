//! Scale-out as separate processes on loopback (issue 18): a moto S3 server (`moto[server]`
//! from PyPI, as in the store's bucket tests), two `fluoro serve --role collector` writing
//! blocks into one bucket, a `fluoro serve --role query` reading the bucket and the
//! collectors' recent data, and a sidecar spreading traces over the collectors. An all-in-one
//! `fluoro serve` gets the same documents. The query node answers the graph, filter,
//! comparison and trace calls as the all-in-one does, with spans both in blocks and still in a
//! collector's memory; a collector killed with SIGKILL and restarted loses nothing it
//! acknowledged, and while it is down the query node still answers from the bucket. Log records
//! and metric points exported by the OpenTelemetry SDK to one collector read the same through
//! the query node.

use std::ffi::OsStr;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::fluoro_daemon_relays_raw_documents::{get_text, metric, FluoroDaemon};
use crate::fluoro_serve_keeps_logs::log_with_python_sdk;
use crate::fluoro_serve_keeps_metrics::export_with_python_sdk;
use crate::server::FluoroServer;

const HEADER: &str = r#"{"format":"json","version":1}"#;
const BUCKET: &str = "fluoro-cluster";
const TRACES: u32 = 150;
const CREDENTIALS: [(&str, &str); 3] =
    [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")];

/// A moto S3 server with one bucket, on a free loopback port; killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install -r requirements-test.txt)");
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        // Moto takes an unsigned PUT as creating a bucket.
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(reqwest::Method::PUT, &format!("{}/{BUCKET}", moto.endpoint)).is_none() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The keys under `prefix`, from an unsigned ListObjectsV2.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let listing = request(reqwest::Method::GET, &format!("{}/{BUCKET}?list-type=2&prefix={prefix}", self.endpoint))
            .expect("the bucket lists");
        listing.split("<Key>").skip(1).filter_map(|rest| Some(rest.split_once("</Key>")?.0.to_string())).collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request(method: reqwest::Method, url: &str) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new().request(method, url).send().await.ok()?;
        response.status().is_success().then_some(())?;
        response.text().await.ok()
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Two segments per trace, PetSite calling PetSearch, with faults, errors and latencies that
/// vary by trace, so graphs, filters and comparisons have something to tell apart.
fn documents(start: f64, first: u32, count: u32) -> (Vec<String>, Vec<String>) {
    let epoch = start as u64;
    let mut trace_ids = Vec::new();
    let mut datagrams = Vec::new();
    for trace in first..first + count {
        let trace_id = format!("1-{epoch:08x}-{trace:024x}");
        let begin = start + f64::from(trace) * 0.01;
        let took = 0.02 + f64::from(trace % 13) * 0.015;
        let status = if trace % 7 == 0 { 500 } else { 200 };
        let (root, call, child) =
            (format!("{trace:012x}0001"), format!("{trace:012x}0002"), format!("{trace:012x}0003"));
        let petsite = json!({
            "name": "PetSite", "id": root, "trace_id": trace_id, "start_time": begin, "end_time": begin + took,
            "fault": status == 500, "annotations": {"pettype": if trace % 3 == 0 { "bunny" } else { "puppy" }},
            "http": {"request": {"method": "GET", "url": "http://petsite/search"}, "response": {"status": status}},
            "subsegments": [{"name": "PetSearch", "id": call, "namespace": "remote", "start_time": begin + 0.001,
                "end_time": begin + took - 0.001, "fault": status == 500,
                "http": {"request": {"method": "GET", "url": "http://petsearch/api/search"}, "response": {"status": status}}}]
        });
        let petsearch = json!({
            "name": "PetSearch", "id": child, "trace_id": trace_id, "parent_id": call, "start_time": begin + 0.002,
            "end_time": begin + took - 0.002, "error": trace % 5 == 0,
            "http": {"request": {"method": "GET", "url": "http://petsearch/api/search"}, "response": {"status": status}}
        });
        datagrams.extend([format!("{HEADER}\n{petsite}"), format!("{HEADER}\n{petsearch}")]);
        trace_ids.push(trace_id);
    }
    (trace_ids, datagrams)
}

/// What was sent to both the cluster (through the sidecar) and the all-in-one server.
struct Sent {
    trace_ids: Vec<String>,
    documents: u64,
}

impl Sent {
    /// Sends to both and waits until both hold everything.
    fn send(
        &mut self,
        daemon: &FluoroDaemon,
        single: &FluoroServer,
        (trace_ids, datagrams): (Vec<String>, Vec<String>),
    ) {
        send(daemon.udp, &datagrams);
        send(single.addresses["udp"], &datagrams);
        self.trace_ids.extend(trace_ids);
        self.documents += datagrams.len() as u64;
        let daemon_metrics = format!("http://{}/metrics", daemon.http);
        wait_for("the collectors to acknowledge every document", || {
            metric(&get_text(&daemon_metrics), r#"fluoro_accepted_total{source="forward"}"#) >= self.documents
        });
        wait_for("the all-in-one server to hold every trace", || {
            whole_traces(single, &self.trace_ids) == self.trace_ids.len()
        });
    }
}

fn send(to: std::net::SocketAddr, datagrams: &[String]) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in datagrams {
        socket.send_to(datagram.as_bytes(), to).unwrap();
        std::thread::sleep(Duration::from_micros(300)); // no burst beyond the receive buffer
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn collector(dir: &Path, http_port: u16, moto: &Moto, config: &Path) -> FluoroServer {
    let bind = format!("127.0.0.1:{http_port}");
    let args = [
        "--role",
        "collector",
        "--http-bind",
        &bind,
        "--blocks",
        &format!("s3://{BUCKET}/cluster"),
        "--blocks-endpoint",
        &moto.endpoint,
        "--blocks-allow-http",
        "--config",
        config.to_str().unwrap(),
    ];
    start(dir, &args)
}

fn start(dir: &Path, args: &[&str]) -> FluoroServer {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    FluoroServer::start_env(dir, &args, &CREDENTIALS, Stdio::inherit())
}

/// How many of `trace_ids` `server` returns with both their segments.
fn whole_traces(server: &FluoroServer, trace_ids: &[String]) -> usize {
    let mut whole = 0;
    for chunk in trace_ids.chunks(5) {
        let answer = server.post("/Traces", json!({ "TraceIds": chunk }));
        whole += answer["Traces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["Segments"].as_array().unwrap().len() == 2)
            .count();
    }
    whole
}

/// The answers the comparison is about, in a form that does not depend on row order.
fn answers(server: &FluoroServer, window: &Value) -> Vec<Value> {
    let with = |extra: Value| {
        let mut request = window.clone();
        request.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        request
    };
    let mut graph = server.post("/ServiceGraph", window.clone());
    graph["Services"].as_array_mut().unwrap().sort_by_key(|s| s["Name"].to_string());
    let mut answers = vec![graph["Services"].take()];
    for filter in [
        "responsetime > 0.1",
        "http.status = 500",
        "service(\"PetSearch\") { error }",
        "annotation.pettype = \"bunny\"",
    ] {
        let summaries = server.post("/TraceSummaries", with(json!({ "FilterExpression": filter })));
        let mut ids: Vec<String> = summaries["TraceSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        answers.push(json!({ filter: ids }));
    }
    let mut comparison = server.post("/api/compare", with(json!({ "Selection": "responsetime > 0.1" })));
    comparison["Ranking"].as_array_mut().unwrap().sort_by_key(|r| r.to_string());
    answers.push(comparison);
    answers
}

fn datagrams_of_one_trace(start: f64) -> Vec<String> {
    documents(start, 99_999, 1).1.into_iter().map(|datagram| datagram.split_once('\n').unwrap().1.to_string()).collect()
}

/// PutTraceSegments that must fail: its answer's body.
fn refused_write(server: &FluoroServer, documents: &[String]) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let body = json!({ "TraceSegmentDocuments": documents });
        let response = reqwest::Client::new().post(server.url("/TraceSegments")).json(&body).send().await.unwrap();
        assert!(!response.status().is_success(), "{}", response.status());
        response.text().await.unwrap()
    })
}

fn recent_spans(server: &FluoroServer) -> usize {
    let url = server.url(&format!("/internal/recent/spans?from_us=0&to_us={}", i64::MAX));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let bytes = runtime.block_on(async { reqwest::get(url).await.unwrap().bytes().await.unwrap() });
    fluoro_store::decode_spans(&bytes).unwrap().len()
}

#[test]
fn a_query_node_over_two_collectors_answers_as_one_server_does_and_a_killed_collector_loses_nothing() {
    let moto = Moto::start();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    // Small blocks, compacted as they come: blocks, merges and recent data all at once.
    let config = dirs[0].path().join("cluster.toml");
    std::fs::write(&config, "[store]\nflush_rows = 100\ncompaction_min_rows = 300\nflush_age_seconds = 3600\n")
        .unwrap();
    let ports = [free_port(), free_port()];
    let mut a = collector(dirs[0].path(), ports[0], &moto, &config);
    let b = collector(dirs[1].path(), ports[1], &moto, &config);
    let collectors = format!("{},{}", a.url(""), b.url(""));
    let bucket = format!("s3://{BUCKET}/cluster");
    let query = start(
        dirs[2].path(),
        &[
            "--role",
            "query",
            "--collectors",
            &collectors,
            "--blocks",
            &bucket,
            "--blocks-endpoint",
            &moto.endpoint,
            "--blocks-allow-http",
        ],
    );
    let single = start(dirs[3].path(), &["--config", config.to_str().unwrap()]);
    let daemon = FluoroDaemon::start_to(&[&a.url(""), &b.url("")]);

    let started = now();
    let mut sent = Sent { trace_ids: Vec::new(), documents: 0 };
    sent.send(&daemon, &single, documents(started, 0, TRACES));
    // Then a few traces at a time until the first collector holds some it has not flushed.
    for more in 0..20 {
        if recent_spans(&a) > 0 {
            break;
        }
        sent.send(&daemon, &single, documents(started, TRACES + more * 5, 5));
    }
    let trace_ids = sent.trace_ids;

    // Each collector took a writer number of its own, and both published blocks.
    let writers: Vec<String> = [&dirs[0], &dirs[1]]
        .iter()
        .map(|dir| std::fs::read_to_string(dir.path().join("store/writer-id")).unwrap())
        .collect();
    assert_ne!(writers[0], writers[1], "two collectors, two writer numbers");
    assert_eq!(moto.keys("cluster/writers/").len(), 2);
    let published = moto.keys("cluster/published/");
    let shifted = |writer: &str| writer.trim().parse::<u64>().unwrap() << 44;
    for writer in &writers {
        let own = published.iter().filter(|key| {
            let id: u64 = key.rsplit('/').next().unwrap().trim_end_matches(".parquet").parse().unwrap();
            id >> 44 << 44 == shifted(writer)
        });
        assert!(own.count() > 0, "writer {writer} published blocks: {published:?}");
    }
    // Both ran maintenance after flushing; exactly one holds the bucket's maintenance lease.
    let held = |server: &FluoroServer| metric(&get_text(&server.url("/metrics")), "fluoro_maintenance_lease_held");
    wait_for("one collector to hold the maintenance lease", || held(&a) + held(&b) == 1);
    assert_eq!(moto.keys("cluster/leases/").len(), 1);
    assert!(!get_text(&query.url("/metrics")).contains("fluoro_maintenance_lease"), "a query node never contends");
    let in_memory = recent_spans(&a) + recent_spans(&b);
    assert!(in_memory > 0, "some spans are still only in a collector's memory");

    let window = json!({"StartTime": started - 60.0, "EndTime": now() + 60.0});
    assert_eq!(whole_traces(&query, &trace_ids), trace_ids.len(), "every trace whole through the query node");
    let reference = answers(&single, &window);
    assert_eq!(answers(&query, &window), reference, "the query node answers as the all-in-one server");
    assert!(reference[1].as_object().unwrap().values().next().unwrap().as_array().unwrap().len() > 10);

    let refused = refused_write(&query, &datagrams_of_one_trace(started));
    assert!(refused.contains("query node"), "a write to the query node is refused and says why: {refused}");

    // A collector killed without a flush: the query node answers from the bucket meanwhile,
    // and the restarted collector's log brings back what it had only in memory.
    let held_by_a = recent_spans(&a);
    assert!(held_by_a > 0, "the killed collector holds recent spans");
    a.kill_hard();
    let partial = query.post("/ServiceGraph", window.clone());
    assert!(!partial["Services"].as_array().unwrap().is_empty(), "answers from the bucket and the other collector");
    let unanswered = metric(
        &get_text(&query.url("/metrics")),
        &format!("fluoro_collector_unanswered_total{{collector=\"http://127.0.0.1:{}\"}}", ports[0]),
    );
    assert!(unanswered > 0, "the missing collector is counted");
    a = collector(dirs[0].path(), ports[0], &moto, &config);
    assert_eq!(recent_spans(&a), held_by_a, "the restarted collector replayed its log");
    assert_eq!(whole_traces(&query, &trace_ids), trace_ids.len(), "nothing acknowledged was lost");
    assert_eq!(answers(&query, &window), reference, "the same answers after the restart");
    logs_and_metrics_are_read_where_they_were_sent(&query, &a, &b);
}

/// Log records and metric points stay on the collector the SDK sent them to; the query node
/// reads them there and answers as that collector does.
fn logs_and_metrics_are_read_where_they_were_sent(query: &FluoroServer, a: &FluoroServer, b: &FluoroServer) {
    let (trace_id, _) = log_with_python_sdk("http", &format!("http://{}/v1/logs", a.addresses["otlp-http"]), "on-a");
    let (start, end) = export_with_python_sdk("http", &format!("http://{}", b.addresses["otlp-http"]), "orders-on-b");
    let same = |path: &str, request: Value, holder: &FluoroServer| {
        let answer = query.post(path, request.clone());
        assert_eq!(answer, holder.post(path, request), "{path} through the query node");
        answer
    };
    let trace = same("/api/logs/trace", json!({ "TraceId": trace_id }), a);
    assert_eq!(trace["Logs"].as_array().unwrap().len(), 2, "{trace}");
    let search =
        same("/api/logs/search", json!({"StartTime": now() - 600.0, "EndTime": now() + 60.0, "Text": "on-a"}), a);
    assert_eq!(search["Logs"].as_array().unwrap().len(), 3, "{search}");
    let window =
        json!({"StartTime": (start - 120.0).floor(), "EndTime": (end + 120.0).ceil(), "Service": "orders-on-b"});
    let names = same("/api/metrics/names", window.clone(), b);
    assert_eq!(names["Metrics"].as_array().unwrap().len(), 4, "{names}");
    let mut series = window;
    series["Name"] = json!("orders.placed");
    series["Statistic"] = json!("sum");
    series["Period"] = json!(60);
    same("/api/metrics/series", series, b);
}
