//! `fluoro daemon --forward URL…`: a sidecar next to a service. Like the X-Ray daemon it is a
//! relay: it receives what the X-Ray daemon receives, checks only the header, size and UTF-8,
//! forwards the raw documents in batches to a central Fluoro (which validates them), and
//! proxies sampling calls. Given several collectors, it sends each trace id to one of them
//! (rendezvous hashing, `collector/src/forward/route.rs`), and to the next while it is down.
//! With `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` set, as the X-Ray daemon does, it
//! signs what it sends with SigV4, for a central Fluoro started with `--sigv4-keys-file`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use fluoro_collector::{AwsCredentials, Counters, DaemonConfig, ForwardConfig, UdpConfig};

use crate::config;
use crate::serve::{init_logging, wait_for_stop};

/// The daemon's own metrics port: beside a central Fluoro on 2020 on the same host.
const DEFAULT_DAEMON_HTTP_BIND: &str = "127.0.0.1:2021";

#[derive(Args)]
pub(crate) struct DaemonArgs {
    /// The central Fluoro's HTTP API, e.g. http://fluoro.internal:2020. Repeat it (or give a
    /// comma-separated list) for several collectors: each trace id goes to one of them by
    /// consistent (rendezvous) hashing, every document of a trace to the same one; while one
    /// fails, its traces and the documents it held go to the next, and come back once it
    /// answers again. Sampling calls go to the first. With $AWS_ACCESS_KEY_ID and
    /// $AWS_SECRET_ACCESS_KEY set ($AWS_SESSION_TOKEN, $AWS_REGION too), every request is
    /// signed with SigV4, for a central Fluoro started with `--sigv4-keys-file`.
    #[arg(long, value_name = "URL", required = true, value_delimiter = ',')]
    forward: Vec<String>,
    /// X-Ray daemon protocol (UDP). [default: 127.0.0.1:2000]
    #[arg(long, value_name = "ADDR")]
    udp_bind: Option<SocketAddr>,
    /// Sampling endpoints for the SDKs, proxied to the central Fluoro (TCP). [default: 127.0.0.1:2000]
    #[arg(long, value_name = "ADDR")]
    sampling_bind: Option<SocketAddr>,
    /// The daemon's /metrics. [default: 127.0.0.1:2021]
    #[arg(long, value_name = "ADDR")]
    http_bind: Option<SocketAddr>,
    /// Documents held while the central Fluoro is unreachable; the oldest are dropped (and
    /// counted) beyond it.
    #[arg(long, value_name = "DOCUMENTS", default_value_t = 100_000)]
    buffer: usize,
    /// On the sampling and metrics listeners: a request head must arrive whole within this many
    /// seconds (also the idle limit of a kept-alive connection), as `[http]
    /// header_read_timeout_seconds` of `fluoro serve`. [default: 10]
    #[arg(long, value_name = "SECONDS")]
    header_read_timeout_seconds: Option<f64>,
    /// The longest pause between two chunks of a request body (then 408). [default: 30]
    #[arg(long, value_name = "SECONDS")]
    body_read_timeout_seconds: Option<f64>,
    /// Connections served at once per listener; more wait in the kernel's backlog. [default: 1024]
    #[arg(long, value_name = "COUNT")]
    max_connections: Option<usize>,
    /// Also stop when standard input closes (as `fluoro demo` runs its sidecar).
    #[arg(long, hide = true)]
    stop_with_stdin: bool,
}

pub(crate) fn run(args: DaemonArgs) -> anyhow::Result<()> {
    init_logging();
    let stop_with_stdin = args.stop_with_stdin;
    let http_limits = config::HttpSection {
        header_read_timeout_seconds: args.header_read_timeout_seconds,
        body_read_timeout_seconds: args.body_read_timeout_seconds,
        max_connections: args.max_connections,
    }
    .limits()
    .map_err(|error| anyhow::anyhow!("{}", error.to_string().replace("http.", "--").replace('_', "-")))?;
    let mut forward = ForwardConfig::to_collectors(args.forward);
    forward.buffer_documents = args.buffer;
    forward.credentials = AwsCredentials::from_env();
    let config = DaemonConfig {
        udp: UdpConfig {
            bind: args.udp_bind.unwrap_or_else(|| config::parse_addr(config::DEFAULT_UDP_BIND)),
            ..UdpConfig::default()
        },
        sampling_bind: args.sampling_bind.unwrap_or_else(|| config::parse_addr(config::DEFAULT_SAMPLING_BIND)),
        http_bind: args.http_bind.unwrap_or_else(|| config::parse_addr(DEFAULT_DAEMON_HTTP_BIND)),
        forward,
        http_limits,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let collectors = config.forward.collectors.join(", ");
        let signing = config.forward.credentials.as_ref().map(|credentials| credentials.access_key_id().to_owned());
        let daemon = fluoro_collector::start_daemon(config, Arc::new(Counters::new())).await?;
        println!("fluoro daemon: forwarding to {collectors}");
        if let Some(access_key_id) = signing {
            println!("fluoro daemon: signing with SigV4, access key {access_key_id} ($AWS_ACCESS_KEY_ID)");
        }
        println!("fluoro daemon: listening udp {} (X-Ray daemon protocol)", daemon.udp);
        println!("fluoro daemon: listening sampling {} (proxied to the first collector that answers)", daemon.sampling);
        println!("fluoro daemon: listening http {} (/metrics)", daemon.http);
        println!("fluoro daemon: ready");
        wait_for_stop(stop_with_stdin).await?;
        daemon.shutdown(Duration::from_secs(5)).await?;
        anyhow::Ok(())
    })
}
