//! `trace`: queries against a Fluoro server. Today it converts ids; `filter`, `get`, `map` and
//! `compare` arrive with the analyzer and API issues.

use clap::{Parser, Subcommand};
use fluoro_proto::TraceId;

#[derive(Parser)]
#[command(name = "trace", version, about = "Query traces in Fluoro")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a trace id between the X-Ray form and the W3C (OpenTelemetry) form.
    ///
    /// Examples:
    ///   trace id 1-5759e988-bd862e3fe1be46a994272793   → 5759e988bd862e3fe1be46a994272793
    ///   trace id 5759e988bd862e3fe1be46a994272793      → 1-5759e988-bd862e3fe1be46a994272793
    #[command(verbatim_doc_comment)]
    Id {
        /// An X-Ray (`1-XXXXXXXX-…`) or W3C (32 hex digits) trace id.
        id: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Id { id } => {
            let trace_id: TraceId = id.parse().map_err(|error| anyhow::anyhow!("{id:?} is not a trace id: {error}"))?;
            if id.starts_with("1-") {
                println!("{}", trace_id.to_w3c());
            } else {
                println!("{trace_id}");
            }
        }
    }
    Ok(())
}
