//! Log records are kept like spans: readable as soon as they are written, in Parquet log blocks
//! DuckDB reads after a flush, recovered from their own log after a crash, found by trace and
//! span id in time order and by service, severity, text and time, a page at a time.

use std::path::Path;
use std::process::Command;

use fluoro_proto::{Durability, LogBatch, LogRow, SegmentId, TraceId};
use fluoro_store::{LogQuery, Store};

use crate::support::{config, open};

const SPAN: u64 = 0x70de_5b6f_19ff_9a0a;

fn trace() -> TraceId {
    TraceId::parse_w3c("5b8efff798038103d269b633813fc60c").unwrap()
}

fn line(time_us: i64, service: &str, severity: i32, body: &str, in_trace: bool) -> LogRow {
    LogRow {
        time_us,
        observed_us: time_us + 5,
        trace_id: in_trace.then(trace),
        span_id: in_trace.then(|| SegmentId::new(SPAN)),
        service: service.to_owned(),
        severity_number: severity,
        severity_text: String::new(),
        body: body.to_owned(),
        attributes: vec![("pet.id".to_owned(), "42".to_owned())],
    }
}

/// Three lines of one trace (sent out of time order) and two outside any trace.
fn write_lines(store: &Store) {
    let rows = vec![
        line(3_000, "pet-search", 17, "Illegal memory allocation", true),
        line(1_000, "pet-search", 9, "loading pet 42", true),
        line(2_000, "pet-search", 9, "cache miss", true),
        line(1_500, "pet-search", 13, "cache is cold", false),
        line(2_500, "payments", 17, "card declined", false),
    ];
    store.write_logs(LogBatch { rows, durability: Durability::Acknowledged }).unwrap();
}

fn bodies(rows: &[LogRow]) -> Vec<&str> {
    rows.iter().map(|row| row.body.as_str()).collect()
}

fn assert_found(store: &Store) {
    let lines = store.trace_logs(trace(), None).unwrap();
    assert_eq!(bodies(&lines), ["loading pet 42", "cache miss", "Illegal memory allocation"]);
    assert_eq!(lines[0].attributes, [("pet.id".to_owned(), "42".to_owned())]);
    assert_eq!(store.trace_logs(trace(), Some(SegmentId::new(SPAN))).unwrap().len(), 3);
    assert!(store.trace_logs(trace(), Some(SegmentId::new(1))).unwrap().is_empty());

    let all = LogQuery { from_us: 0, to_us: 10_000, limit: 100, ..LogQuery::default() };
    let page = store.search_logs(&all).unwrap();
    assert_eq!(
        bodies(&page.logs),
        ["Illegal memory allocation", "card declined", "cache miss", "cache is cold", "loading pet 42"],
        "newest first"
    );
    let errors = LogQuery { min_severity: 17, ..all.clone() };
    assert_eq!(bodies(&store.search_logs(&errors).unwrap().logs), ["Illegal memory allocation", "card declined"]);
    let cold = LogQuery { service: Some("pet-search".into()), text: Some("CACHE".into()), ..all.clone() };
    assert_eq!(bodies(&store.search_logs(&cold).unwrap().logs), ["cache miss", "cache is cold"]);
    let window = LogQuery { from_us: 1_500, to_us: 2_500, ..all.clone() };
    assert_eq!(bodies(&store.search_logs(&window).unwrap().logs), ["cache miss", "cache is cold"]);
}

#[test]
fn log_records_are_readable_at_once_and_from_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write_lines(&store);
    assert_eq!(store.recent_log_rows(), 5);
    assert_found(&store);

    store.flush().unwrap();

    assert_eq!(store.recent_log_rows(), 0);
    assert_eq!(store.log_block_files().len(), 1);
    assert!(store.block_files().is_empty(), "no span block without spans");
    assert_found(&store);
}

#[test]
fn search_pages_never_repeat_or_skip_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write_lines(&store);
    store.flush().unwrap();
    // Two more in recent data, one at the same microsecond as a flushed line.
    let later = vec![line(2_000, "pet-search", 9, "same time", false), line(4_000, "pet-search", 9, "latest", false)];
    store.write_logs(LogBatch { rows: later, durability: Durability::BestEffort }).unwrap();

    let mut query = LogQuery { from_us: 0, to_us: 10_000, limit: 2, ..LogQuery::default() };
    let mut seen = Vec::new();
    loop {
        let page = store.search_logs(&query).unwrap();
        assert!(page.logs.len() <= 2);
        seen.extend(page.logs.into_iter().map(|row| row.body));
        match page.next {
            Some(next) => query.before = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "latest",
            "Illegal memory allocation",
            "card declined",
            "same time",
            "cache miss",
            "cache is cold",
            "loading pet 42"
        ]
    );
}

/// Every page of `query`, followed to the end: the bodies in the order the pages gave them.
fn all_pages(store: &Store, mut query: LogQuery) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let page = store.search_logs(&query).unwrap();
        assert!(page.logs.len() <= query.limit);
        seen.extend(page.logs.into_iter().map(|row| row.body));
        match page.next {
            Some(next) => query.before = Some(next),
            None => return seen,
        }
    }
}

/// A block of several row groups, read a time slice at a time and stopping early, pages as
/// the plain definition says: every matching record once, newest first, ties in arrival order
/// reversed; whatever the spread of times (dense, sparse, repeated microseconds).
#[test]
fn search_pages_of_a_block_of_many_row_groups_match_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let time_of = |i: i64| if i < 30_000 { i / 2 } else { 1_000_000 + i * 97 };
    let lines: Vec<LogRow> = (0..40_000i64)
        .map(|i| {
            let body = if i % 997 == 0 { format!("line {i} with a Needle") } else { format!("line {i}") };
            line(time_of(i), ["a", "b"][(i % 2) as usize], (i % 24) as i32 + 1, &body, false)
        })
        .collect();
    for chunk in lines.chunks(5_000) {
        store.write_logs(LogBatch { rows: chunk.to_vec(), durability: Durability::BestEffort }).unwrap();
    }
    store.flush().unwrap();
    // More in recent data, among the block's times.
    let recent: Vec<LogRow> =
        (0..500i64).map(|i| line(i * 7_001, "a", 9, &format!("recent {i} needle"), false)).collect();
    store.write_logs(LogBatch { rows: recent.clone(), durability: Durability::BestEffort }).unwrap();
    let everything: Vec<LogRow> = lines.into_iter().chain(recent).collect();

    let model = |keep: &dyn Fn(&LogRow) -> bool, from_us: i64, to_us: i64| {
        let mut kept: Vec<(usize, &LogRow)> = everything
            .iter()
            .enumerate()
            .filter(|(_, row)| row.time_us >= from_us && row.time_us < to_us && keep(row))
            .collect();
        kept.sort_by_key(|(arrival, row)| std::cmp::Reverse((row.time_us, *arrival)));
        kept.into_iter().map(|(_, row)| row.body.clone()).collect::<Vec<_>>()
    };
    let all = LogQuery { from_us: 0, to_us: 10_000_000, limit: 1_000, ..LogQuery::default() };
    assert_eq!(all_pages(&store, all.clone()), model(&|_| true, 0, 10_000_000));
    let service = LogQuery { service: Some("a".into()), min_severity: 13, limit: 333, ..all.clone() };
    assert_eq!(
        all_pages(&store, service),
        model(&|row| row.service == "a" && row.severity_number >= 13, 0, 10_000_000)
    );
    let text = LogQuery { text: Some("nEEDLE".into()), limit: 7, ..all.clone() };
    assert_eq!(all_pages(&store, text), model(&|row| row.body.to_lowercase().contains("needle"), 0, 10_000_000));
    let window = LogQuery { from_us: 9_000, to_us: 1_500_000, limit: 1_000, ..all };
    assert_eq!(all_pages(&store, window), model(&|_| true, 9_000, 1_500_000));
}

#[test]
fn acknowledged_log_records_survive_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        write_lines(&store);
        store.flush().unwrap();
        store
            .write_logs(LogBatch {
                rows: vec![line(5_000, "pet-search", 9, "after the flush", true)],
                durability: Durability::Acknowledged,
            })
            .unwrap();
        // Dropped without `close`: what a crash leaves, besides unsynced best-effort data.
    }
    let store = open(dir.path());
    assert_eq!(store.recent_log_rows(), 1, "the record after the flush is replayed from the log");
    assert_eq!(store.log_block_files().len(), 1);
    let lines = store.trace_logs(trace(), None).unwrap();
    assert_eq!(bodies(&lines), ["loading pet 42", "cache miss", "Illegal memory allocation", "after the flush"]);
    store.close().unwrap();

    let reopened = open(dir.path());
    assert_eq!(reopened.recent_log_rows(), 0, "close flushed everything");
    assert_eq!(reopened.log_block_files().len(), 2);
    assert_eq!(reopened.trace_logs(trace(), None).unwrap().len(), 4);
}

#[test]
fn log_blocks_expire_with_the_retention_period() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(fluoro_store::StoreConfig {
        retention_max_age: std::time::Duration::from_secs(1),
        ..config(dir.path())
    })
    .unwrap();
    write_lines(&store); // written in 1970
    store.flush().unwrap();
    let file = store.log_block_files()[0].1.clone();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    store.maintain().unwrap();

    assert!(store.log_block_files().is_empty());
    assert!(store.trace_logs(trace(), None).unwrap().is_empty());
    store.close().unwrap();
    assert!(!file.exists(), "a graceful stop deletes retired files at once");
}

#[test]
fn duckdb_reads_a_log_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write_lines(&store);
    store.flush().unwrap();
    let (_, block) = store.log_block_files().remove(0);
    let (hi, lo) = trace().halves();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/duckdb_logs.py");

    let output =
        Command::new("python3").arg(script).arg(&block).arg(hi.to_string()).arg(lo.to_string()).output().unwrap();

    assert!(output.status.success(), "duckdb_logs.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["rows"], 5);
    assert_eq!(result["without_trace"], 2);
    assert_eq!(result["errors"], 2);
    assert_eq!(result["trace_lines"], serde_json::json!(["loading pet 42", "cache miss", "Illegal memory allocation"]));
    assert_eq!(result["attribute"], "42");
    let footer: serde_json::Value = serde_json::from_str(result["footer"].as_str().unwrap()).unwrap();
    assert_eq!(footer["services"], serde_json::json!(["payments", "pet-search"]));
}
