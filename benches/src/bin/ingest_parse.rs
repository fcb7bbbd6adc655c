//! Per-document ingest cost without UDP: parse, validate, flatten into rows, and write, on one
//! thread, against plain `serde_json::from_slice::<Value>` of the same bytes in the same run.
//!
//! The document is the `udp_ingest` one: a segment with 3 subsegments, ~1.2 KB, a new trace id
//! each time. Every stage is reported in documents/s and as a ratio to the JSON baseline
//! (above 1 means cheaper than building a `serde_json::Value`).
//!
//! The last stage writes into a real store (write-ahead log, recent data, flushes to Parquet
//! blocks on the store's own threads, a last flush when it closes): everything `fluoro serve`
//! does with a UDP document but receiving it. Its CPU time is the whole process's.
//!
//! `cargo run --release -p fluoro-benches --bin ingest_parse -- --seconds 2`
//!
//! With `--documents N` each stage takes exactly N documents instead of a time: under
//! `valgrind --tool=cachegrind`, the difference between two counts' instructions is the
//! stage's instructions per document, repeatable where times on a shared VM are not.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use bytes::Bytes;
use clap::Parser;
use fluoro_benches::{process_cpu_seconds, this_thread_cpu_seconds, TRACE_PLACEHOLDER};
use fluoro_collector::{Counters, Ingest, MemorySink, Source};
use fluoro_proto::{parse_document, rows_from_document};
use fluoro_proto::{Durability, SinkError, SpanBatch, SpanSink};
use fluoro_store::{Store, StoreConfig};

const SINK_MAX_ROWS: usize = 200_000;

/// The stages run with what `fluoro serve` runs with.
#[global_allocator]
static ALLOCATOR: fluoro_store::allocator::ServerAllocator = fluoro_store::allocator::ServerAllocator {};

/// What each stage takes its documents through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Stage {
    /// `serde_json::Value` of the bytes: the baseline.
    Value,
    Parse,
    Rows,
    /// `Ingest::put_documents` into a sink that keeps nothing.
    Discard,
    /// `Ingest::put_documents` into the collector's `MemorySink`.
    Memory,
    /// `Ingest::put_documents` into a store, flushed to blocks.
    Store,
}

#[derive(Debug, Parser)]
#[command(about = "Documents/s through each ingest stage, against serde_json::Value parsing")]
struct Args {
    /// Measured seconds per stage.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Documents per `put_documents` call (the UDP workers join up to 512).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Exactly this many documents per stage (rounded up to whole batches), instead of `--seconds`.
    #[arg(long)]
    documents: Option<u64>,
    /// Only these stages (comma-separated); ratios need `value`, the baseline.
    #[arg(long, value_delimiter = ',', default_value = "value,parse,rows,discard,memory,store")]
    stages: Vec<Stage>,
    /// Where the `store` stage's store lives (emptied first).
    #[arg(long, default_value = "target/bench-ingest-parse")]
    dir: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut documents = Documents::new(args.batch.max(1))?;
    println!(
        "ingest_parse: {}-byte document (segment + 3 subsegments), {}s per stage, 1 thread, batches of {}",
        documents.len(),
        args.seconds,
        documents.batch.len()
    );

    let amount = match args.documents {
        Some(count) => Amount::Documents(count),
        None => Amount::Seconds(args.seconds),
    };
    let runs = |stage| args.stages.contains(&stage);
    let mut baseline = None;
    if runs(Stage::Value) {
        let rate = documents.rate(amount, |bytes| {
            black_box(serde_json::from_slice::<serde_json::Value>(bytes)?);
            Ok(())
        })?;
        baseline = Some(rate);
        report("serde_json::Value (baseline)", rate, baseline);
    }
    if runs(Stage::Parse) {
        let rate = documents.rate(amount, |bytes| {
            black_box(parse_document(bytes)?);
            Ok(())
        })?;
        report("parse + validate", rate, baseline);
    }
    if runs(Stage::Rows) {
        let rate = documents.rate(amount, |bytes| {
            black_box(rows_from_document(&parse_document(bytes)?));
            Ok(())
        })?;
        report("parse + validate + rows", rate, baseline);
    }
    if runs(Stage::Discard) {
        let discard = Ingest::new(Arc::new(DiscardSink), Arc::new(Counters::new()));
        report("Ingest::put_documents, discarding", documents.ingest_rate(amount, &discard)?, baseline);
    }
    if runs(Stage::Memory) {
        let rss_before = peak_rss_kib()?;
        let memory = Arc::new(MemorySink::new(SINK_MAX_ROWS));
        let kept = Ingest::new(memory.clone(), Arc::new(Counters::new()));
        report("Ingest::put_documents, MemorySink", documents.ingest_rate(amount, &kept)?, baseline);
        let rows_kept = memory.row_count();
        let grown = peak_rss_kib()?.saturating_sub(rss_before);
        println!(
            "MemorySink: {rows_kept} rows kept ({} documents), peak RSS +{grown} KiB, {:.0} bytes per document",
            rows_kept / 4,
            grown as f64 * 1024.0 / (rows_kept / 4).max(1) as f64
        );
    }
    if runs(Stage::Store) {
        report("Ingest::put_documents, store (process)", documents.store_rate(amount, &args.dir)?, baseline);
    }
    Ok(())
}

/// How much each stage runs.
#[derive(Debug, Clone, Copy)]
enum Amount {
    Seconds(f64),
    Documents(u64),
}

/// Documents per second, by wall clock and by this thread's CPU time.
#[derive(Debug, Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: f64,
}

/// Prints the wall-clock rate and the CPU µs per document; the ratio to the baseline is by CPU
/// time, which other processes on the machine disturb less.
fn report(stage: &str, rate: Rate, baseline: Option<Rate>) {
    let ratio = baseline.map_or_else(String::new, |baseline| format!("  ratio {:.2}", rate.cpu / baseline.cpu));
    println!("  {stage:<40} {:>10.0} documents/s  {:>8.2} cpu µs{ratio}", rate.wall, 1e6 / rate.cpu);
}

/// Accepts everything and keeps nothing: the cost of `Ingest` without a store.
#[derive(Debug)]
struct DiscardSink;

impl SpanSink for DiscardSink {
    fn write(&self, batch: SpanBatch) -> Result<(), SinkError> {
        black_box(batch);
        Ok(())
    }
}

/// A batch of copies of one document, each with its own trace id.
struct Documents {
    batch: Vec<Vec<u8>>,
    trace_at: usize,
    serial: u64,
}

impl Documents {
    fn new(batch: usize) -> anyhow::Result<Documents> {
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let document = fluoro_benches::checkout_segment_document(epoch).into_bytes();
        let trace_at = document
            .windows(TRACE_PLACEHOLDER.len())
            .position(|window| window == TRACE_PLACEHOLDER.as_bytes())
            .context("no trace id")?;
        let mut documents = Documents { batch: vec![document; batch], trace_at, serial: 0 };
        documents.next_traces();
        ensure!(parse_document(&documents.batch[0])?.entities()[0].subsegments().len() == 3, "bad template");
        Ok(documents)
    }

    fn len(&self) -> usize {
        self.batch[0].len()
    }

    /// Gives every document of the batch a new trace id.
    fn next_traces(&mut self) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for document in &mut self.batch {
            self.serial += 1;
            let digits = &mut document[self.trace_at..self.trace_at + TRACE_PLACEHOLDER.len()];
            let value = u128::from(self.serial);
            for (index, digit) in digits.iter_mut().rev().enumerate() {
                *digit = HEX[((value >> (4 * index)) & 0xf) as usize];
            }
        }
    }

    /// Documents per second through `stage`, one document at a time.
    fn rate(&mut self, amount: Amount, mut stage: impl FnMut(&[u8]) -> anyhow::Result<()>) -> anyhow::Result<Rate> {
        let each = |batch: &[Vec<u8>]| batch.iter().try_for_each(|document| stage(document));
        self.timed(amount, this_thread_cpu_seconds, each, || Ok(()))
    }

    /// Documents per second through `Ingest::put_documents`, a batch per call as the UDP workers do.
    fn ingest_rate(&mut self, amount: Amount, ingest: &Ingest) -> anyhow::Result<Rate> {
        self.timed(amount, this_thread_cpu_seconds, |batch| put_batch(ingest, batch), || Ok(()))
    }

    /// Documents per second through `Ingest::put_documents` into a store in `dir`, by the
    /// process's CPU time: the store's log and flush threads work for these documents too. The
    /// store is closed (its recent data flushed) within the measured time.
    fn store_rate(&mut self, amount: Amount, dir: &std::path::Path) -> anyhow::Result<Rate> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
        }
        let store = Arc::new(Store::open(StoreConfig::new(dir))?);
        let ingest = Ingest::new(store.clone(), Arc::new(Counters::new()));
        self.timed(amount, process_cpu_seconds, |batch| put_batch(&ingest, batch), || Ok(store.close()?))
    }

    /// Runs `run` on batch after batch for `amount`, then `finish`; the rates are by wall clock
    /// and by `cpu_seconds`.
    fn timed(
        &mut self,
        amount: Amount,
        cpu_seconds: fn() -> f64,
        mut run: impl FnMut(&[Vec<u8>]) -> anyhow::Result<()>,
        finish: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<Rate> {
        let (started, cpu_started) = (Instant::now(), cpu_seconds());
        let mut done = 0u64;
        while match amount {
            Amount::Seconds(seconds) => started.elapsed().as_secs_f64() < seconds,
            Amount::Documents(count) => done < count,
        } {
            self.next_traces();
            run(&self.batch)?;
            done += self.batch.len() as u64;
        }
        finish()?;
        let cpu = (cpu_seconds() - cpu_started).max(1e-9);
        Ok(Rate { wall: done as f64 / started.elapsed().as_secs_f64(), cpu: done as f64 / cpu })
    }
}

/// One `put_documents` call, as a UDP worker makes it.
fn put_batch(ingest: &Ingest, batch: &[Vec<u8>]) -> anyhow::Result<()> {
    // Copied out as the UDP receive threads copy each batch out of their buffers.
    let documents = batch.iter().map(|document| Bytes::copy_from_slice(document));
    let refused = ingest.put_documents(Source::Udp, documents, Durability::BestEffort)?;
    ensure!(refused.is_empty(), "the document was refused: {refused:?}");
    Ok(())
}

/// Peak resident set size of this process, from `/proc/self/status`.
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    Ok(line.split_whitespace().nth(1).context("empty VmHWM")?.parse()?)
}
