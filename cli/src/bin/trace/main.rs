//! `trace`: queries against a Fluoro server, one module per noun: `filter` (trace summaries
//! matching a filter expression), `compare` (two trace sets: distributions and the attribute
//! values that differ), `histogram` (a filter's latency percentiles and distribution), `logs`
//! (a trace's log lines, or a log search), `get` (traces as waterfall trees), `insights` (fault-rate and latency anomalies and their root cause) and `id` (trace id
//! conversion).

mod compare;
mod filter;
mod get;
mod histogram;
mod id;
mod insights;
mod logs;
mod query;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "trace", version, about = "Query traces in Fluoro")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Compare(compare::CompareArgs),
    Filter(filter::FilterArgs),
    Get(get::GetArgs),
    Histogram(histogram::HistogramArgs),
    Id(id::IdArgs),
    Insights(insights::InsightsArgs),
    Logs(logs::LogsArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Compare(args) => compare::run(args).await,
        Command::Filter(args) => filter::run(args).await,
        Command::Get(args) => get::run(args).await,
        Command::Histogram(args) => histogram::run(args).await,
        Command::Id(args) => id::run(args),
        Command::Insights(args) => insights::run(args).await,
        Command::Logs(args) => logs::run(args).await,
    }
}
