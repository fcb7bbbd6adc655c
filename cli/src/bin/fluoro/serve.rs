//! `fluoro serve`: the collector, sampling and the HTTP API in one process, until SIGTERM or
//! Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use fluoro_collector::{Counters, Ingest, MemorySink, ServerConfig, TraceSource, UdpConfig};

use crate::config::{self, ConfigFile};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Where state lives (sampling rules today). Default: $FLUORO_DATA_DIR, else
    /// $XDG_DATA_HOME/fluoro, else ~/.local/share/fluoro.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// X-Ray daemon protocol (UDP). [default: 127.0.0.1:2000]
    #[arg(long, value_name = "ADDR")]
    udp_bind: Option<SocketAddr>,
    /// Sampling endpoints for the X-Ray SDKs (TCP). [default: 127.0.0.1:2000]
    #[arg(long, value_name = "ADDR")]
    sampling_bind: Option<SocketAddr>,
    /// The X-Ray-compatible HTTP API and /metrics. [default: 127.0.0.1:2020]
    #[arg(long, value_name = "ADDR")]
    http_bind: Option<SocketAddr>,
    /// OTLP over gRPC. [default: 127.0.0.1:4317]
    #[arg(long, value_name = "ADDR")]
    otlp_grpc_bind: Option<SocketAddr>,
    /// OTLP over HTTP. [default: 127.0.0.1:4318]
    #[arg(long, value_name = "ADDR")]
    otlp_http_bind: Option<SocketAddr>,
    /// A TOML file for everything else; see fluoro.example.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let max_rows = file.memory.max_rows.unwrap_or(config::DEFAULT_MEMORY_MAX_ROWS);
    let server_config = server_config(args, file);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(server_config, max_rows))
}

fn server_config(args: ServeArgs, file: ConfigFile) -> ServerConfig {
    let pick = |flag: Option<SocketAddr>, from_file: Option<SocketAddr>, default: &str| {
        flag.or(from_file).unwrap_or_else(|| config::parse_addr(default))
    };
    let mut udp =
        UdpConfig { bind: pick(args.udp_bind, file.udp_bind, config::DEFAULT_UDP_BIND), ..UdpConfig::default() };
    if let Some(receivers) = file.udp.receivers {
        udp.receivers = receivers;
    }
    if let Some(workers) = file.udp.workers {
        udp.workers = workers;
    }
    if let Some(queue) = file.udp.queue_datagrams {
        udp.queue_datagrams = queue;
    }
    ServerConfig {
        udp,
        sampling_bind: pick(args.sampling_bind, file.sampling_bind, config::DEFAULT_SAMPLING_BIND),
        http_bind: pick(args.http_bind, file.http_bind, config::DEFAULT_HTTP_BIND),
        otlp_grpc_bind: pick(args.otlp_grpc_bind, file.otlp_grpc_bind, config::DEFAULT_OTLP_GRPC_BIND),
        otlp_http_bind: pick(args.otlp_http_bind, file.otlp_http_bind, config::DEFAULT_OTLP_HTTP_BIND),
        data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(config::default_data_dir),
    }
}

async fn serve(config: ServerConfig, max_rows: usize) -> anyhow::Result<()> {
    let sink = Arc::new(MemorySink::new(max_rows));
    let ingest = Ingest::new(sink.clone(), Arc::new(Counters::new()));
    let data_dir = config.data_dir.clone();
    let server = fluoro_collector::start(config, ingest, sink as Arc<dyn TraceSource>).await?;
    let a = server.addresses;
    // One line per listener on stdout: people read it, and tests parse it.
    println!("fluoro: data dir {}", data_dir.display());
    println!("fluoro: listening udp {} (X-Ray daemon protocol)", a.udp);
    println!("fluoro: listening sampling {} (X-Ray SDK sampling, TCP)", a.sampling);
    println!("fluoro: listening http {} (X-Ray API, /metrics)", a.http);
    println!("fluoro: listening otlp-grpc {}", a.otlp_grpc);
    println!("fluoro: listening otlp-http {}", a.otlp_http);
    println!("fluoro: ready");
    wait_for_stop_signal().await?;
    tracing::info!("stopping");
    server.shutdown().await?;
    Ok(())
}

pub(crate) async fn wait_for_stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLUORO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
