//! `trace`: queries against a Fluoro server, one module per noun: `filter` (trace summaries
//! matching a filter expression), `compare` (two trace sets: distributions and the attribute
//! values that differ), `histogram` (a filter's latency percentiles and distribution), `logs`
//! (a trace's log lines, or a log search), `get` (traces as waterfall trees), `map` (the
//! service graph as tables or DOT), `tail` (new traces as they arrive), `insights` (fault-rate
//! and latency anomalies and their root cause), `groups`, `sampling` and `alarms` (their
//! create/read/update/delete operations), `id` (trace id conversion) and `completions` (shell
//! completion scripts).
//!
//! Shared: `query` (server, window, group, limit, JSON options; requests; exit statuses; the
//! caret under a bad expression) and `table` (aligned tables that follow the terminal).

mod alarms;
mod compare;
mod completions;
mod filter;
mod get;
mod groups;
mod histogram;
mod id;
mod insights;
mod logs;
mod map;
mod query;
mod sampling;
mod table;
mod tail;

use clap::{Parser, Subcommand};

/// Shown after the command list of `trace --help`.
const AFTER_HELP: &str = "\
Examples:
  trace filter 'responsetime > 2' --since 15m     slow traces of the last 15 minutes
  trace get 1-5759e988-bd862e3fe1be46a994272793   one trace as a waterfall
  trace map --group slow                          the service map of a group
  trace tail fault                                follow new faulting traces
  FLUORO_ENDPOINT=http://10.0.0.5:2020 trace groups list

Every command that reads a server takes --endpoint URL (or FLUORO_ENDPOINT; default
http://127.0.0.1:2020); queries take --since/--from/--to, --group, --limit and --json
(JSON shapes in each command's --help and in docs/cli.md).

Exit status: 0 found (or done), 1 nothing matched, 2 usage error or a request the server
refused (a bad expression is shown with a caret under the column), 3 server error or no
server. Colour only on a terminal and without NO_COLOR.";

#[derive(Parser)]
#[command(name = "trace", version, about = "Query traces in Fluoro", after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Alarms(alarms::AlarmsArgs),
    Compare(compare::CompareArgs),
    Completions(completions::CompletionsArgs),
    Filter(filter::FilterArgs),
    Get(get::GetArgs),
    Groups(groups::GroupsArgs),
    Histogram(histogram::HistogramArgs),
    Id(id::IdArgs),
    Insights(insights::InsightsArgs),
    Logs(logs::LogsArgs),
    Map(map::MapArgs),
    Sampling(sampling::SamplingArgs),
    Tail(tail::TailArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Alarms(args) => alarms::run(args).await,
        Command::Compare(args) => compare::run(args).await,
        Command::Completions(args) => completions::run(args),
        Command::Filter(args) => filter::run(args).await,
        Command::Get(args) => get::run(args).await,
        Command::Groups(args) => groups::run(args).await,
        Command::Histogram(args) => histogram::run(args).await,
        Command::Id(args) => id::run(args),
        Command::Insights(args) => insights::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Map(args) => map::run(args).await,
        Command::Sampling(args) => sampling::run(args).await,
        Command::Tail(args) => tail::run(args).await,
    }
}
