//! `fluoro`: the Fluoro server, its sidecar daemon, and offline checks.

mod check;
mod collectors;
mod config;
mod daemon;
mod demo;
mod insight_loop;
mod live;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fluoro",
    version,
    about = "Fluoro: a local X-Ray-compatible tracing collector and service-map analyzer",
    after_help = "Examples:\n  fluoro serve                       # listen on the X-Ray and OTLP ports of 127.0.0.1\n  fluoro serve --config fluoro.toml  # see fluoro.example.toml\n  fluoro daemon --forward http://central:2020  # sidecar next to a service\n  fluoro demo                        # the PetAdoptions demo, traced into its own Fluoro\n  fluoro check documents.jsonl       # validate segment documents offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector and the HTTP API: X-Ray daemon UDP and sampling on 2000, the X-Ray API
    /// on 2020, OTLP gRPC on 4317 and OTLP HTTP on 4318, all on 127.0.0.1 unless told otherwise.
    Serve(serve::ServeArgs),
    /// Run as a sidecar next to a service: receive X-Ray UDP locally, forward batches (50
    /// documents or 1 s) to a central Fluoro with retries, and proxy sampling calls to it.
    ///
    /// Like the X-Ray daemon it relays documents without parsing them: it checks the header
    /// line, the 64 KiB limit and UTF-8, and the central Fluoro validates. Documents the central
    /// refuses are counted on this daemon's /metrics as fluoro_rejected_total{source="forward"}
    /// by the reason it gave (bad_json, invalid, too_large).
    ///
    /// Several --forward URLs spread traces over several collectors: each trace id goes to one
    /// of them (rendezvous hashing), and to the next while that one is down.
    ///
    /// Example: fluoro daemon --forward http://fluoro.internal:2020
    ///
    /// Two collectors: fluoro daemon --forward http://collector-1:2020 --forward http://collector-2:2020
    Daemon(daemon::DaemonArgs),
    /// Run the PetAdoptions demo application, instrumented both ways (X-Ray SDK segments through
    /// a sidecar daemon, OpenTelemetry over OTLP), under load, traced into its own Fluoro.
    ///
    /// Starts Fluoro (dashboard on http://127.0.0.1:2020/), the sidecar, the services
    /// (PetSite on http://127.0.0.1:8080/, PetSearch, payforadoption, petlistadoptions, the status
    /// updater behind its gateway stage, the bunny workflow, petadoptionshistory, and a local
    /// stand-in for the AWS services and amazon.com) and the traffic generator. Ctrl-C stops
    /// everything. A second run resumes the last one's data; --fresh starts clean.
    ///
    /// Scenarios, switched while it runs (`fluoro demo scenario --help`): traffic N (five
    /// generators make the pets table throttle), billing on-demand|provisioned (the fix),
    /// errormode1 on|off (bunny payments leak 32 MiB and fail until payforadoption crashes and
    /// is restarted). Bunny searches always take over 3 s, as in the original.
    #[command(
        after_help = "Examples:\n  fluoro demo\n  fluoro demo --fresh --pace 10            # ten times shorter pauses between traffic cycles\n  fluoro demo scenario traffic 5           # against the running demo\n  fluoro demo scenario billing on-demand\n  fluoro demo scenario errormode1 on"
    )]
    Demo(demo::DemoArgs),
    /// One service of `fluoro demo`, started by it (internal).
    #[command(hide = true)]
    DemoService(demo::service::DemoServiceArgs),
    /// Validate X-Ray segment documents and show the span rows Fluoro would store.
    ///
    /// Each file holds one document per line (JSON Lines) or a single document. Invalid
    /// documents are reported with the field at fault; the exit status is 1 if any was invalid.
    ///
    /// Example: fluoro check proto/tests/fixtures/xray-python-sdk/documents.jsonl
    Check {
        /// Files of segment documents; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print every span row as JSON instead of one summary line per document.
        #[arg(long)]
        rows: bool,
    },
}

/// jemalloc: why, and how memory goes back to the system, in `fluoro_store::allocator`.
#[global_allocator]
static ALLOCATOR: fluoro_store::allocator::ServerAllocator = fluoro_store::allocator::ServerAllocator {};

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Daemon(args) => daemon::run(args).map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => demo::run(args).map(|()| ExitCode::SUCCESS),
        Command::DemoService(args) => demo::service::run(args).map(|()| ExitCode::SUCCESS),
        Command::Check { files, rows } => check::check(&files, rows),
    }
}
