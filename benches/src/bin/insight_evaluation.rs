//! Insight evaluation benchmark: what `fluoro serve`'s insight loop costs per evaluated minute
//! (`fluoro_analyzer::Insights::evaluate`: scan the minute's spans, root causes per trace, the
//! test per service), against the service graph of the same minute (`service_graph`, what the
//! dashboard's map asks for) in the same run.
//!
//! Data: `--minutes` minutes of `--traces-per-minute` traces of frontend → search → catalog
//! (and → cart on half), X-Ray documents parsed as the collector does and flushed to a block;
//! catalog faults on 1 % of its requests, 40 % in minutes 70–79. Timed: the hour from minute 30
//! evaluated from scratch (it must open and close exactly one insight, on catalog), against 60
//! one-minute service graphs.
//!
//! `cargo run --release -p fluoro-benches --bin insight_evaluation -- --traces-per-minute 600`

use std::path::PathBuf;

use anyhow::ensure;
use clap::Parser;
use fluoro_analyzer::{service_graph, Groups, InsightSettings, Insights};
use fluoro_benches::{median_ms, process_cpu_seconds};
use fluoro_proto::{parse_document, Durability, SpanBatch};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};

/// 2024-01-01T00:00:00Z: a minute boundary, far from now (retention is off).
const T0: i64 = 1_704_067_200;

#[derive(Debug, Parser)]
#[command(about = "Insight evaluation per minute against a one-minute service graph")]
struct Args {
    #[arg(long, default_value_t = 600)]
    traces_per_minute: usize,
    #[arg(long, default_value_t = 90)]
    minutes: i64,
    /// Timed runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The store's data directory (deleted first).
    #[arg(long, default_value = "target/bench-insights")]
    dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = std::fs::remove_dir_all(&args.dir);
    let config = StoreConfig {
        retention_max_age: std::time::Duration::from_secs(100 * 365 * 24 * 3600),
        flush_rows: usize::MAX / 2,
        ..StoreConfig::new(&args.dir)
    };
    let store = Store::open(config)?;
    let mut spans = 0;
    for minute in 0..args.minutes {
        let mut batch = SpanBatch::new(Durability::BestEffort);
        for index in 0..args.traces_per_minute {
            for document in trace_documents(minute, index, args.traces_per_minute) {
                batch.push_document(parse_document(document.to_string().as_bytes())?, None);
            }
        }
        spans += batch.rows.len();
        store.write(batch)?;
    }
    store.flush()?;
    println!("{spans} spans over {} minutes ({} traces a minute)", args.minutes, args.traces_per_minute);

    let groups = Groups::in_memory();
    let (first, last) = (T0 + 30 * 60, T0 + 89 * 60);
    let cpu_before = process_cpu_seconds();
    let (evaluation_ms, notices) = median_ms(args.runs, || {
        let insights = Insights::in_memory(InsightSettings { backfill_minutes: 60, ..InsightSettings::default() });
        Ok(insights.evaluate(&store, &groups, last)?)
    })?;
    let evaluation_cpu_ms = (process_cpu_seconds() - cpu_before) * 1e3 / args.runs.max(1) as f64;
    let opened_on_catalog = notices.iter().filter(|n| n.insight.root_cause_service_id.name == "catalog").count();
    ensure!(notices.len() == 2 && opened_on_catalog == 2, "expected catalog opened and closed: {notices:?}");
    let (graph_ms, nodes) = median_ms(args.runs, || {
        let mut nodes = 0;
        for minute in (first..=last).step_by(60) {
            nodes += service_graph(&store, minute * 1_000_000, (minute + 60) * 1_000_000, None)?.services.len();
        }
        Ok(nodes)
    })?;
    ensure!(nodes >= 60 * 4, "every minute's graph has its nodes: {nodes}");
    println!("insight evaluation: {:.2} ms per minute ({evaluation_ms:.0} ms for 60)", evaluation_ms / 60.0);
    println!("  CPU (every thread): {:.2} ms per minute", evaluation_cpu_ms / 60.0);
    println!("service graph:      {:.2} ms per minute ({graph_ms:.0} ms for 60)", graph_ms / 60.0);
    println!("ratio (evaluation ÷ graph): {:.2}", evaluation_ms / graph_ms);
    store.close()?;
    Ok(())
}

/// Deterministic noise: `percent` of the hash space of trace `n`.
fn faults(n: u64, salt: u64, percent: u64) -> bool {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ salt;
    for byte in n.to_be_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100 < percent
}

fn with_status(mut document: Value, fault: bool) -> Value {
    let status = if fault { json!({"fault": true}) } else { json!({}) };
    if let (Some(target), Value::Object(extra)) = (document.as_object_mut(), status) {
        target.extend(extra);
    }
    document
}

fn trace_documents(minute: i64, index: usize, per_minute: usize) -> Vec<Value> {
    let n = minute as u64 * 1_000_000 + index as u64;
    let start = (T0 + minute * 60) as f64 + index as f64 * 59.0 / per_minute as f64;
    let trace = format!("1-{:08x}-{:024x}", start as u64, n);
    let id = |role: u64| format!("{:016x}", (n + 1) << 8 | role);
    let catalog = faults(n, 1, if (70..80).contains(&minute) { 40 } else { 1 });
    let search = catalog || faults(n, 2, 1);
    let with_cart = index % 2 == 0;
    let cart = with_cart && faults(n, 3, 2);
    let call = |role: u64, name: &str, fault: bool| {
        with_status(
            json!({"id": id(role), "name": name, "namespace": "remote", "start_time": start + 0.01,
                   "end_time": start + 0.05, "http": {"request": {"url": format!("http://{name}/"), "traced": true}}}),
            fault,
        )
    };
    let mut calls = vec![call(2, "search", search)];
    if with_cart {
        calls.push(call(3, "cart", cart));
    }
    let frontend = json!({"name": "frontend", "id": id(1), "trace_id": trace, "start_time": start,
                          "end_time": start + 0.1, "origin": "AWS::EC2::Instance", "subsegments": calls});
    let search_segment = json!({"name": "search", "id": id(10), "trace_id": trace, "parent_id": id(2),
        "start_time": start + 0.011, "end_time": start + 0.049, "origin": "AWS::ECS::Container",
        "subsegments": [call(11, "catalog", catalog)]});
    let catalog_segment = json!({"name": "catalog", "id": id(20), "trace_id": trace, "parent_id": id(11),
        "start_time": start + 0.02, "end_time": start + 0.04, "origin": "AWS::ECS::Container"});
    let mut documents = vec![
        with_status(frontend, search || cart || faults(n, 4, 1)),
        with_status(search_segment, search),
        with_status(catalog_segment, catalog),
    ];
    if with_cart {
        let cart_segment = json!({"name": "cart", "id": id(30), "trace_id": trace, "parent_id": id(3),
            "start_time": start + 0.011, "end_time": start + 0.03, "origin": "AWS::ECS::Container"});
        documents.push(with_status(cart_segment, cart));
    }
    documents
}
