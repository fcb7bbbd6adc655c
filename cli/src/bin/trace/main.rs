//! `trace`: queries against a Fluoro server, one module per noun: `filter` (trace summaries
//! matching a filter expression) and `id` (trace id conversion). `get`, `map` and `compare`
//! arrive with the API issue.

mod filter;
mod id;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "trace", version, about = "Query traces in Fluoro")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Filter(filter::FilterArgs),
    Id(id::IdArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Filter(args) => filter::run(args).await,
        Command::Id(args) => id::run(args),
    }
}
