//! `fluoro serve`: the collector, sampling, the HTTP API and the span store in one process,
//! until SIGTERM or Ctrl-C. On stop the collector stops first, then the store flushes recent
//! data to a Parquet block, so a stopped data dir holds complete blocks and an empty log.
//! Beside the requests, `live.rs` computes group metrics each minute and evaluates alarms.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use std::time::Duration;

use fluoro_analyzer::{Alarms, GroupMetricsConfig, GroupMetricsRecorder, Groups, Insights};
use fluoro_collector::{Counters, HttpLimits, Ingest, ServerConfig, UdpConfig, XrayApiLimits};
use fluoro_proto::{LogSink, MetricSink, SpanSink, TraceSource};
use fluoro_store::{Store, StoreConfig, StoreRole};

use crate::collectors::HttpCollectors;
use crate::config::{self, ConfigFile};
use crate::insight_loop::{self, LoopConfig};
use crate::live::{Live, LiveParts};

/// The groups of `fluoro serve`, in the data dir beside `sampling-rules.json`.
const GROUPS_FILE: &str = "groups.json";
/// The metric alarms of `fluoro serve` (PutMetricAlarm), beside `groups.json`.
const ALARMS_FILE: &str = "alarms.json";
/// Insights, their events and the detectors' baselines (`fluoro_analyzer::Insights`).
const INSIGHTS_FILE: &str = "insights.json";

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Where state lives: sampling rules, groups (`groups.json`), alarms (`alarms.json`), insights (`insights.json`) and the span store (`store/`:
    /// write-ahead log and Parquet blocks). Default: $FLUORO_DATA_DIR, else $XDG_DATA_HOME/fluoro, else
    /// ~/.local/share/fluoro.
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
    /// Bytes of recent spans (not yet in a Parquet block) kept in memory: a flush starts at
    /// half; at the whole, OTLP and PutTraceSegments writes are refused and UDP waits for the
    /// flush. Wins over `[store] recent_max_bytes`. [default: 1073741824]
    #[arg(long, value_name = "BYTES")]
    recent_max_bytes: Option<u64>,
    /// Also publish span blocks to an object-store bucket, and fetch them from there when the
    /// local store lacks them: `s3://bucket/prefix` (credentials and region from the usual AWS
    /// environment variables), or `file:///dir`. Default: the local store directory only.
    /// Same as `[store] blocks`.
    #[arg(long, value_name = "URL")]
    blocks: Option<String>,
    /// The S3-compatible endpoint for `--blocks` (MinIO, Ceph, a local server); default AWS, or
    /// $AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL")]
    blocks_endpoint: Option<String>,
    /// The bucket's region; default $AWS_REGION.
    #[arg(long, value_name = "REGION")]
    blocks_region: Option<String>,
    /// Allow plain HTTP to `--blocks-endpoint` (a local server).
    #[arg(long)]
    blocks_allow_http: bool,
    /// Read the published blocks this node lacks from `--blocks` on demand, keeping at most
    /// this many bytes of them in memory (least recently used evicted; hits, misses and bucket
    /// GETs on /metrics), instead of downloading them all on start. 0 keeps none. Default:
    /// download them. Same as `[store] blocks_cache_bytes`.
    #[arg(long, value_name = "BYTES")]
    blocks_cache_bytes: Option<u64>,
    /// Ask every request on the HTTP API port for this token (a file holding it, 16–512
    /// characters; `openssl rand -hex 32 > token`): `Authorization: Bearer …`, or the
    /// dashboard's login page. SDK writes (segments, sampling) stay open (unless
    /// --sigv4-keys-file is given too; then either a signature or the token passes). Also
    /// $FLUORO_API_TOKEN or `api_token_file`. Default: no token.
    #[arg(long, value_name = "FILE")]
    api_token_file: Option<PathBuf>,
    /// What this process does beside others (docs/scale-out.md): `all-in-one` (the default)
    /// ingests, stores and answers; `collector` ingests and publishes its blocks to `--blocks`
    /// under a writer number of its own, hands its recent data to query nodes, and with the
    /// other collectors shares a maintenance lease (`[store] lease_seconds`); `query` stores no
    /// spans and answers from the bucket plus `--collectors`; it opens the HTTP API only (no
    /// UDP, sampling or OTLP listener). Same as `role`.
    #[arg(long, value_enum, value_name = "ROLE")]
    role: Option<Role>,
    /// A query node's collectors: their HTTP API URLs (`http://collector-1:2020`), repeated or
    /// comma-separated. Same as `collectors`.
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    collectors: Vec<String>,
    /// Ask the AWS operations on the HTTP API port (PutTraceSegments, BatchGetTraces,
    /// GetTraceSummaries, sampling, groups, alarms…) for an AWS Signature V4 made with one of
    /// the keys in this file, one `ACCESS_KEY_ID SECRET_ACCESS_KEY` a line: what the AWS CLI
    /// and boto3 send with those keys. The API token, when set, is accepted instead (the
    /// dashboard and `trace` cannot sign: give --api-token-file too for them). UDP and
    /// the sampling port stay open; a `fluoro daemon` signs with $AWS_ACCESS_KEY_ID. Also
    /// `sigv4_keys_file`. Default: no signature asked.
    #[arg(long, value_name = "FILE")]
    sigv4_keys_file: Option<PathBuf>,
    /// A TOML file for everything else; see fluoro.example.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also stop when standard input closes (`fluoro demo` runs its server so: it stops with
    /// its parent, even a killed one).
    #[arg(long, hide = true)]
    stop_with_stdin: bool,
    /// Where `fluoro demo` writes its scenario control's address: the dashboard then offers
    /// the scenario switches (`/api/demo/scenario`).
    #[arg(long, hide = true, value_name = "FILE")]
    demo_control_file: Option<PathBuf>,
    /// Tests and the demo: seconds after a minute ends before its group metrics are computed
    /// (see `[group_metrics] grace_seconds`).
    #[arg(long, hide = true, value_name = "SECONDS")]
    group_metrics_grace_seconds: Option<u64>,
    /// Tests and the demo: seconds between alarm evaluations (see
    /// `[alarms] evaluation_interval_seconds`).
    #[arg(long, hide = true, value_name = "SECONDS")]
    alarm_interval_seconds: Option<u64>,
}

/// `--role`: what this process does beside others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Role {
    AllInOne,
    Collector,
    Query,
}

/// How this process runs beside others (`fluoro demo` sets both).
struct Supervision {
    stop_with_stdin: bool,
    demo_control_file: Option<PathBuf>,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let mut store_section = std::mem::take(&mut file.store);
    store_section.blocks = args.blocks.clone().or(store_section.blocks);
    store_section.blocks_endpoint = args.blocks_endpoint.clone().or(store_section.blocks_endpoint);
    store_section.blocks_region = args.blocks_region.clone().or(store_section.blocks_region);
    if args.blocks_allow_http {
        store_section.blocks_allow_http = Some(true);
    }
    store_section.blocks_cache_bytes = args.blocks_cache_bytes.or(store_section.blocks_cache_bytes);
    let insight_config = file.insights.loop_config()?;
    let supervision =
        Supervision { stop_with_stdin: args.stop_with_stdin, demo_control_file: args.demo_control_file.clone() };
    let clock = Clock {
        group_metrics: file.group_metrics.recorder_config(args.group_metrics_grace_seconds)?,
        alarm_interval: file.alarms.evaluation_interval(args.alarm_interval_seconds)?,
        insights: insight_config,
        insight_webhooks: file.insights.webhooks()?,
    };
    let recent_max_bytes = args.recent_max_bytes;
    let api_token = config::api_token(args.api_token_file.as_deref(), file.api_token_file.as_deref())?;
    let role = args.role.or(file.role).unwrap_or(Role::AllInOne);
    let collectors = match role {
        Role::Query => {
            let urls =
                if args.collectors.is_empty() { std::mem::take(&mut file.collectors) } else { args.collectors.clone() };
            Some(HttpCollectors::new(&urls, api_token.clone())?)
        }
        _ => None,
    };
    let sigv4_keys = config::sigv4_keys(args.sigv4_keys_file.as_deref(), file.sigv4_keys_file.as_deref())?;
    let http_limits = file.http.limits()?;
    let xray_api_limits = file.limits.xray_api_limits()?;
    let limits = RequestLimits {
        documents: file.limits.document_rules()?,
        spans_per_trace: file.limits.spans_per_trace()?,
        queries: file.limits.query_limits()?,
    };
    let mut server_config = server_config(args, file, xray_api_limits);
    server_config.ingest_listeners = role != Role::Query;
    server_config.api_token = api_token;
    server_config.sigv4_keys = sigv4_keys;
    server_config.http_limits = http_limits;
    // Owner only, before anything is written in it: spans hold URLs, user ids and SQL.
    fluoro_proto::create_private_dir(&server_config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", server_config.data_dir.display()))?;
    let mut store_config = store_section.store_config(&server_config.data_dir, recent_max_bytes)?;
    fluoro_store::allocator::spawn_trimmer(store_config.recent_max_bytes);
    store_config.thread_start = Some(fluoro_store::allocator::use_ingest_arena);
    store_config.role = match (role, &collectors) {
        (Role::Collector, _) => StoreRole::Collector,
        (Role::Query, Some(collectors)) => StoreRole::Query { collectors: collectors.clone() },
        _ => StoreRole::AllInOne,
    };
    let groups_path = server_config.data_dir.join(GROUPS_FILE);
    let groups = Groups::open(&groups_path).with_context(|| format!("cannot open groups {}", groups_path.display()))?;
    let alarms_path = server_config.data_dir.join(ALARMS_FILE);
    let alarms = Alarms::open(&alarms_path).with_context(|| format!("cannot open alarms {}", alarms_path.display()))?;
    let insights = insight_loop::open(&server_config.data_dir.join(INSIGHTS_FILE), &insight_config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let state = State { groups: Arc::new(groups), alarms: Arc::new(alarms), insights: Arc::new(insights) };
    let cluster = Cluster { role, collectors };
    runtime.block_on(serve(server_config, store_config, state, clock, supervision, limits, cluster))
}

/// Where this process stands among others.
struct Cluster {
    role: Role,
    /// A query node's collectors.
    collectors: Option<Arc<HttpCollectors>>,
}

/// What `fluoro serve` keeps beside the store, each in its file in the data dir.
struct State {
    groups: Arc<Groups>,
    alarms: Arc<Alarms>,
    insights: Arc<Insights>,
}

/// The background work's settings (`live.rs`, `insight_loop.rs`).
/// `[limits]` beyond the X-Ray API's: what a document and a query may be.
struct RequestLimits {
    documents: fluoro_proto::Rules,
    spans_per_trace: usize,
    queries: fluoro_ui::QueryLimits,
}

struct Clock {
    group_metrics: GroupMetricsConfig,
    alarm_interval: Duration,
    insights: LoopConfig,
    insight_webhooks: Vec<String>,
}

fn server_config(args: ServeArgs, file: ConfigFile, xray_api_limits: XrayApiLimits) -> ServerConfig {
    let pick = |flag: Option<SocketAddr>, from_file: Option<SocketAddr>, default: &str| {
        flag.or(from_file).unwrap_or_else(|| config::parse_addr(default))
    };
    let mut udp = UdpConfig {
        bind: pick(args.udp_bind, file.udp_bind, config::DEFAULT_UDP_BIND),
        thread_start: Some(fluoro_store::allocator::use_ingest_arena),
        ..UdpConfig::default()
    };
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
        api_token: None,
        sigv4_keys: None,
        http_limits: HttpLimits::default(),
        xray_api_limits,
        ingest_listeners: true,
    }
}

async fn serve(
    config: ServerConfig,
    store_config: StoreConfig,
    State { groups, alarms, insights }: State,
    clock: Clock,
    supervision: Supervision,
    limits: RequestLimits,
    cluster: Cluster,
) -> anyhow::Result<()> {
    // Opening replays the write-ahead log: file work, off the async threads.
    let store_dir = store_config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(store_config)).await?;
    let store = Arc::new(store.with_context(|| format!("cannot open the store in {}", store_dir.display()))?);
    let ingest = Ingest::new(store.clone() as Arc<dyn SpanSink>, Arc::new(Counters::new()))
        .with_rules(limits.documents)
        .with_spans_per_trace(limits.spans_per_trace)
        .with_log_sink(store.clone() as Arc<dyn LogSink>)
        .with_metric_sink(store.clone() as Arc<dyn MetricSink>);
    let recorder = GroupMetricsRecorder::new(clock.group_metrics);
    let latest = recorder.latest();
    // Webhooks of alarm transitions and insights, counted on `/metrics`.
    let notifier = fluoro_ui::spawn_notifier(fluoro_ui::NotifierConfig::default());
    let notifier_metrics = notifier.clone();
    let store_metrics = store.clone();
    let collectors = cluster.collectors.clone();
    let ingest = ingest
        .with_prometheus_source(Arc::new(move || collectors.as_ref().map(|c| c.prometheus()).unwrap_or_default()))
        .with_prometheus_source(Arc::new(move || latest.prometheus()))
        .with_prometheus_source(Arc::new(move || notifier_metrics.prometheus()))
        // A full disk, what replaying the logs cut on start, the block cache, the lease.
        .with_prometheus_source(Arc::new(move || store_metrics.prometheus()));
    let data_dir = config.data_dir.clone();
    // The dashboard's GET pages and assets beside the API's POST operations, on one port.
    let api_routes = fluoro_ui::api_router_with_limits(store.clone(), groups.clone(), limits.queries)
        .merge(fluoro_ui::alarms_router(alarms.clone()))
        .merge(fluoro_ui::insights_router(insights.clone(), store.clone(), groups.clone()))
        .merge(fluoro_ui::notifications_router(notifier.clone()))
        .merge(fluoro_ui::demo_scenario_router(supervision.demo_control_file))
        .merge(fluoro_ui::handover_router(store.clone()))
        .merge(fluoro_ui::dashboard_router());
    let server = fluoro_collector::start(config, ingest, store.clone() as Arc<dyn TraceSource>, api_routes).await?;
    // Group metrics, alarms and insights see every collector's spans only on a query node.
    let background = (cluster.role != Role::Collector).then(|| {
        let notices = insight_loop::notice_sender(&notifier, clock.insight_webhooks);
        let insight_task = insight_loop::spawn(store.clone(), groups.clone(), insights, clock.insights, notices);
        let live = Live::start(LiveParts {
            store: store.clone(),
            groups,
            alarms,
            recorder,
            alarm_interval: clock.alarm_interval,
            transitions: Some(notifier.alarm_transition_sender()),
        });
        (insight_task, live)
    });
    let a = server.addresses;
    // One line per listener on stdout: people read it, and tests parse it.
    println!("fluoro: data dir {}", data_dir.display());
    println!("fluoro: role {}", role_line(cluster.role, cluster.collectors.as_deref()));
    if let Some(i) = a.ingest {
        println!("fluoro: listening udp {} (X-Ray daemon protocol)", i.udp);
        println!("fluoro: listening sampling {} (X-Ray SDK sampling, TCP)", i.sampling);
    }
    println!("fluoro: listening http {} (X-Ray API, /metrics, dashboard)", a.http);
    if let Some(i) = a.ingest {
        println!("fluoro: listening otlp-grpc {} (traces, logs)", i.otlp_grpc);
        println!("fluoro: listening otlp-http {} (/v1/traces, /v1/logs)", i.otlp_http);
    }
    println!("fluoro: ready");
    wait_for_stop(supervision.stop_with_stdin).await?;
    tracing::info!("stopping");
    server.shutdown().await?;
    if let Some((insight_task, live)) = background {
        insight_task.abort();
        live.stop().await;
    }
    // Nothing writes any more: flush recent data to a block (Parquet encoding, fsyncs).
    tokio::task::spawn_blocking(move || store.close()).await?.context("cannot flush the store on stop")?;
    tracing::info!("stopped");
    Ok(())
}

fn role_line(role: Role, collectors: Option<&HttpCollectors>) -> String {
    match (role, collectors) {
        (Role::Query, Some(collectors)) => format!("query (collectors {collectors:?})"),
        (Role::Collector, _) => "collector".to_string(),
        _ => "all-in-one".to_string(),
    }
}

pub(crate) async fn wait_for_stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// A stop signal, or with `stdin_too` the end of standard input.
pub(crate) async fn wait_for_stop(stdin_too: bool) -> anyhow::Result<()> {
    if !stdin_too {
        return wait_for_stop_signal().await;
    }
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    tokio::select! {
        signal = wait_for_stop_signal() => signal,
        _ = stdin_closed => Ok(()),
    }
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLUORO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a journal gets plain `key=value` text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}
