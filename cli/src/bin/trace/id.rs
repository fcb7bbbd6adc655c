//! `trace id`: converts a trace id between the X-Ray and W3C forms.

use clap::Args;
use fluoro_proto::TraceId;

/// Convert a trace id between the X-Ray form and the W3C (OpenTelemetry) form.
///
/// Examples:
///   trace id 1-5759e988-bd862e3fe1be46a994272793   → 5759e988bd862e3fe1be46a994272793
///   trace id 5759e988bd862e3fe1be46a994272793      → 1-5759e988-bd862e3fe1be46a994272793
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct IdArgs {
    /// An X-Ray (`1-XXXXXXXX-…`) or W3C (32 hex digits) trace id.
    id: String,
}

pub(crate) fn run(args: IdArgs) -> anyhow::Result<()> {
    let id = args.id;
    let trace_id: TraceId = id.parse().map_err(|error| anyhow::anyhow!("{id:?} is not a trace id: {error}"))?;
    if id.starts_with("1-") {
        println!("{}", trace_id.to_w3c());
    } else {
        println!("{trace_id}");
    }
    Ok(())
}
