//! `fluoro demo`: the PetAdoptions application under load, traced into its own Fluoro.
//!
//! Starts, in this order and each as a child process of this one: `fluoro serve` (the demo's
//! own data dir, default ports), the sidecar `fluoro daemon` forwarding to it (the X-Ray
//! services send their UDP segments there), the services (`fluoro demo-service NAME`,
//! dependencies first, each told the others' addresses in a JSON config), then runs the
//! traffic generator here. A service that crashes (payforadoption at its memory cap) is
//! restarted on its port. Ctrl-C or SIGTERM stops the traffic, then every child.
//!
//! The data dir holds `fluoro/` (the server's store), the SQLite database, the parameter store,
//! the photo bucket, `services/*.json` and `logs/*.log`; a second run resumes it, `--fresh`
//! empties it first.

mod children;
mod scenario;
pub(crate) mod service;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use fluoro_demo_services::{ServiceConfig, ServiceName, TrafficConfig, Urls};

use crate::config;
use children::{stop_all, ChildProcess};

/// Marks a directory as a demo's, so `--fresh` never empties anything else.
const MARKER: &str = ".fluoro-demo";
const DEFAULT_PETSITE_BIND: &str = "127.0.0.1:8080";
const DEFAULT_SIDECAR_HTTP_BIND: &str = "127.0.0.1:2021";
/// How often crashed services are looked for.
const SUPERVISE_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Args)]
pub(crate) struct DemoArgs {
    #[command(subcommand)]
    command: Option<DemoCommand>,
    /// The demo's state. Default: a `fluoro-demo` folder beside fluoro's default data dir
    /// (~/.local/share/fluoro-demo).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Start from an empty data dir instead of resuming the last run.
    #[arg(long)]
    fresh: bool,
    /// Divide the traffic generator's pauses (20 s between cycles, 100 s after an error) by
    /// this factor; requests themselves keep their pace.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pace: f64,
    /// Traffic generators running side by side (the original runs one).
    #[arg(long, value_name = "N", default_value_t = 1)]
    traffic: usize,
    /// Fluoro's HTTP API and dashboard. [default: 127.0.0.1:2020]
    #[arg(long, value_name = "ADDR")]
    http_bind: Option<SocketAddr>,
    /// Fluoro's OTLP gRPC receiver. [default: 127.0.0.1:4317]
    #[arg(long, value_name = "ADDR")]
    otlp_grpc_bind: Option<SocketAddr>,
    /// Fluoro's OTLP HTTP receiver. [default: 127.0.0.1:4318]
    #[arg(long, value_name = "ADDR")]
    otlp_http_bind: Option<SocketAddr>,
    /// The sidecar's X-Ray UDP and sampling port. [default: 127.0.0.1:2000]
    #[arg(long, value_name = "ADDR")]
    sidecar_bind: Option<SocketAddr>,
    /// The sidecar's /metrics. [default: 127.0.0.1:2021]
    #[arg(long, value_name = "ADDR")]
    sidecar_http_bind: Option<SocketAddr>,
    /// PetSite, the web front end. [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    petsite_bind: Option<SocketAddr>,
    /// payforadoption's memory cap: at this resident size it aborts (and is restarted), as the
    /// original's container is OOM-killed at 512 MiB.
    #[arg(long, value_name = "MIB", default_value_t = fluoro_demo_services::DEFAULT_MEMORY_CAP_MIB)]
    memory_cap_mib: u64,
    /// How often the OpenTelemetry-instrumented services (petsearch, petlistadoptions,
    /// payforadoption) export their process CPU and resident memory.
    #[arg(long, value_name = "MS", default_value_t = fluoro_demo_services::DEFAULT_METRICS_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    metrics_interval_ms: u64,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Switch a scenario of the running demo (the one on --data-dir).
    #[command(
        after_help = "Examples:\n  fluoro demo scenario traffic 5            # five traffic generators: the table throttles\n  fluoro demo scenario billing on-demand    # the fix\n  fluoro demo scenario errormode1 on        # bunny payments leak 32 MiB and fail\n  fluoro demo scenario show"
    )]
    Scenario {
        #[command(subcommand)]
        scenario: scenario::Scenario,
    },
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_demo_dir);
    if let Some(DemoCommand::Scenario { scenario }) = args.command {
        return scenario::run(&data_dir, scenario);
    }
    prepare_data_dir(&data_dir, args.fresh)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(demo(args, data_dir))
}

fn default_demo_dir() -> PathBuf {
    let base = config::default_data_dir();
    let name = base.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "fluoro".to_owned());
    base.with_file_name(format!("{name}-demo"))
}

fn prepare_data_dir(dir: &Path, fresh: bool) -> anyhow::Result<()> {
    if fresh && dir.exists() {
        let empty = std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(false);
        if !empty && !dir.join(MARKER).exists() {
            bail!("--fresh refuses to empty {}: it is not a fluoro demo's data dir (no {MARKER})", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    for sub in ["logs", "services", "state"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    std::fs::write(dir.join(MARKER), "fluoro demo data dir\n")?;
    let state = dir.join("state");
    if fluoro_demo_services::get_parameter(&state, fluoro_demo_services::ERRORMODE1).is_none() {
        fluoro_demo_services::put_parameter(&state, fluoro_demo_services::ERRORMODE1, "false")?;
    }
    Ok(())
}

/// The children and what the services need to reach them.
struct Running {
    children: Vec<ChildProcess>,
    http: SocketAddr,
    petsite: SocketAddr,
    petsearch: SocketAddr,
    aws: SocketAddr,
}

async fn demo(args: DemoArgs, data_dir: PathBuf) -> anyhow::Result<()> {
    println!("fluoro demo: data dir {}", data_dir.display());
    // Listening for Ctrl-C from the start: a stop during start-up stops what has started.
    let stop = crate::serve::wait_for_stop_signal();
    tokio::pin!(stop);
    let abort = Arc::new(AtomicBool::new(false));
    let mut start = {
        let (args, data_dir, abort) = (args_snapshot(&args), data_dir.clone(), abort.clone());
        tokio::task::spawn_blocking(move || start_children(&args, &data_dir, &abort))
    };
    let started = tokio::select! {
        started = &mut start => started?,
        _ = &mut stop => {
            abort.store(true, Ordering::Relaxed);
            let (Ok(Ok(Running { mut children, .. })) | Ok(Err((mut children, _)))) = start.await else { return Ok(()) };
            tokio::task::spawn_blocking(move || stop_all(&mut children)).await?;
            return Ok(());
        }
    };
    let mut running = match started {
        Ok(running) => running,
        Err((mut children, error)) => {
            tokio::task::spawn_blocking(move || stop_all(&mut children)).await?;
            return Err(error);
        }
    };
    println!("fluoro demo: dashboard http://{}/", running.http);
    println!("fluoro demo: petsite http://{}/", running.petsite);
    let traffic = TrafficConfig {
        petsite: format!("http://{}", running.petsite),
        petsearch: format!("http://{}", running.petsearch),
        pace: args.pace,
    };
    let mut generators = scenario::Traffic::new(traffic);
    generators.set(args.traffic.max(1));
    let controls = Arc::new(scenario::Controls {
        traffic: tokio::sync::Mutex::new(generators),
        aws: format!("http://{}", running.aws),
        state_dir: data_dir.join("state"),
        http: reqwest::Client::new(),
    });
    let outcome = match scenario::serve_controls(controls.clone(), &data_dir).await {
        Ok(address) => {
            println!("fluoro demo: scenario control http://{address}/scenario");
            println!("fluoro demo: ready");
            supervise(&mut running.children, stop).await
        }
        Err(error) => Err(error.context("cannot serve the scenario control")),
    };
    let _ = std::fs::remove_file(data_dir.join(scenario::CONTROL_FILE));
    controls.traffic.lock().await.stop().await;
    println!("fluoro demo: stopping");
    let mut children = std::mem::take(&mut running.children);
    tokio::task::spawn_blocking(move || stop_all(&mut children)).await?;
    println!("fluoro demo: stopped");
    outcome
}

/// The start-up flags, owned, for the blocking start.
#[derive(Clone)]
struct StartArgs {
    http_bind: SocketAddr,
    otlp_grpc_bind: SocketAddr,
    otlp_http_bind: SocketAddr,
    sidecar_bind: SocketAddr,
    sidecar_http_bind: SocketAddr,
    petsite_bind: SocketAddr,
    memory_cap_mib: u64,
    metrics_interval_ms: u64,
}

fn args_snapshot(args: &DemoArgs) -> StartArgs {
    StartArgs {
        http_bind: args.http_bind.unwrap_or_else(|| config::parse_addr(config::DEFAULT_HTTP_BIND)),
        otlp_grpc_bind: args.otlp_grpc_bind.unwrap_or_else(|| config::parse_addr(config::DEFAULT_OTLP_GRPC_BIND)),
        otlp_http_bind: args.otlp_http_bind.unwrap_or_else(|| config::parse_addr(config::DEFAULT_OTLP_HTTP_BIND)),
        sidecar_bind: args.sidecar_bind.unwrap_or_else(|| config::parse_addr(config::DEFAULT_UDP_BIND)),
        sidecar_http_bind: args.sidecar_http_bind.unwrap_or_else(|| config::parse_addr(DEFAULT_SIDECAR_HTTP_BIND)),
        petsite_bind: args.petsite_bind.unwrap_or_else(|| config::parse_addr(DEFAULT_PETSITE_BIND)),
        memory_cap_mib: args.memory_cap_mib,
        metrics_interval_ms: args.metrics_interval_ms,
    }
}

/// Starts everything; on failure returns what did start, to be stopped.
fn start_children(
    args: &StartArgs,
    data_dir: &Path,
    abort: &AtomicBool,
) -> Result<Running, (Vec<ChildProcess>, anyhow::Error)> {
    let mut children = Vec::new();
    match start_each(args, data_dir, abort, &mut children) {
        Ok((http, [petsite, petsearch, aws])) => Ok(Running { children, http, petsite, petsearch, aws }),
        Err(error) => Err((children, error)),
    }
}

fn start_each(
    args: &StartArgs,
    data_dir: &Path,
    abort: &AtomicBool,
    children: &mut Vec<ChildProcess>,
) -> anyhow::Result<(SocketAddr, [SocketAddr; 3])> {
    let logs = data_dir.join("logs");
    let server =
        started(children, ChildProcess::start("fluoro-serve", serve_args(args, data_dir), &logs, "fluoro: ready")?);
    let http = listener(server, "http")?;
    let otlp_grpc = listener(server, "otlp-grpc")?;
    let daemon_args = daemon_args(args, http);
    let daemon = started(children, ChildProcess::start("fluoro-daemon", daemon_args, &logs, "fluoro daemon: ready")?);
    let sidecar = listener(daemon, "udp")?;
    let sidecar_sampling = listener(daemon, "sampling")?;
    create_sampling_rule(http)?;
    let mut service_config = ServiceConfig {
        bind: config::parse_addr("127.0.0.1:0"),
        state_dir: data_dir.join("state"),
        xray_daemon: Some(sidecar),
        xray_sampling: Some(sidecar_sampling),
        otlp_endpoint: Some(format!("http://{otlp_grpc}")),
        urls: Urls::default(),
        memory_cap_mib: args.memory_cap_mib,
        metrics_interval_ms: args.metrics_interval_ms,
    };
    let mut addresses = std::collections::HashMap::new();
    for service in ServiceName::ALL {
        if abort.load(Ordering::Relaxed) {
            bail!("stopped while starting");
        }
        service_config.bind =
            if service == ServiceName::PetSite { args.petsite_bind } else { config::parse_addr("127.0.0.1:0") };
        let child = start_service(service, &service_config, data_dir, children)?;
        let address = listener(child, service.as_str())?;
        addresses.insert(service, address);
        set_url(&mut service_config.urls, service, format!("http://{address}"));
    }
    let address = |service| addresses.get(&service).copied().context("a service did not report its address");
    Ok((http, [address(ServiceName::PetSite)?, address(ServiceName::PetSearch)?, address(ServiceName::Aws)?]))
}

/// The demo's sampling rule: every request (the X-Ray services' SDK-style samplers fetch it
/// through the sidecar). Lower its fixed rate in the dashboard's sampling page to watch
/// sampling at work. Kept from a previous run.
const SAMPLING_RULE: &str = "fluoro-demo";

fn create_sampling_rule(http: SocketAddr) -> anyhow::Result<()> {
    let rule = serde_json::json!({"SamplingRule": {
        "RuleName": SAMPLING_RULE, "Priority": 9000, "FixedRate": 1.0, "ReservoirSize": 1,
        "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*",
        "ResourceARN": "*", "Version": 1}});
    tokio::runtime::Handle::current().block_on(async {
        let answer =
            reqwest::Client::new().post(format!("http://{http}/CreateSamplingRule")).json(&rule).send().await?;
        let status = answer.status();
        let text = answer.text().await?;
        // A resumed demo has it already.
        anyhow::ensure!(
            status.is_success() || text.contains("RuleAlreadyExists") || text.contains("already exists"),
            "cannot create the demo's sampling rule: {status} {text}"
        );
        Ok(())
    })
}

fn started(children: &mut Vec<ChildProcess>, child: ChildProcess) -> &ChildProcess {
    println!("fluoro demo: started {} pid {}", child.name, child.pid());
    children.push(child);
    children.last().expect("just pushed")
}

fn listener(child: &ChildProcess, name: &str) -> anyhow::Result<SocketAddr> {
    child.listeners.get(name).copied().with_context(|| format!("{} did not report its {name} listener", child.name))
}

/// The demo server's delay before a closed minute's group metrics, in seconds.
const DEMO_GROUP_METRICS_GRACE: &str = "10";
/// The demo server's alarm evaluation interval, in seconds.
const DEMO_ALARM_INTERVAL: &str = "5";

fn serve_args(args: &StartArgs, data_dir: &Path) -> Vec<String> {
    let data = data_dir.join("fluoro").display().to_string();
    let control = data_dir.join(scenario::CONTROL_FILE).display().to_string();
    let mut command = vec!["serve".to_owned(), "--stop-with-stdin".to_owned(), "--data-dir".to_owned(), data];
    command.extend(["--demo-control-file".to_owned(), control]);
    // Everything is local and near-instant here: an alarm on a group follows the scenario
    // switches within a minute and a quarter, not after CloudWatch's pace.
    command.extend(
        ["--group-metrics-grace-seconds", DEMO_GROUP_METRICS_GRACE, "--alarm-interval-seconds", DEMO_ALARM_INTERVAL]
            .map(str::to_owned),
    );
    // The sidecar takes the X-Ray daemon port; the server's own UDP and sampling ports are
    // not needed by the demo.
    for (flag, address) in [
        ("--http-bind", args.http_bind.to_string()),
        ("--otlp-grpc-bind", args.otlp_grpc_bind.to_string()),
        ("--otlp-http-bind", args.otlp_http_bind.to_string()),
        ("--udp-bind", "127.0.0.1:0".to_owned()),
        ("--sampling-bind", "127.0.0.1:0".to_owned()),
    ] {
        command.push(flag.to_owned());
        command.push(address);
    }
    command
}

fn daemon_args(args: &StartArgs, http: SocketAddr) -> Vec<String> {
    let bind = args.sidecar_bind.to_string();
    [
        "daemon",
        "--stop-with-stdin",
        "--forward",
        &format!("http://{http}"),
        "--udp-bind",
        &bind,
        "--sampling-bind",
        &bind,
        "--http-bind",
        &args.sidecar_http_bind.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Writes the service's config and starts it; then pins the config to the port it got, so a
/// restart comes back on the same address.
fn start_service<'a>(
    service: ServiceName,
    service_config: &ServiceConfig,
    data_dir: &Path,
    children: &'a mut Vec<ChildProcess>,
) -> anyhow::Result<&'a ChildProcess> {
    let path = data_dir.join("services").join(format!("{}.json", service.as_str()));
    std::fs::write(&path, serde_json::to_vec_pretty(service_config)?)?;
    let args =
        vec!["demo-service".to_owned(), service.as_str().to_owned(), "--config".to_owned(), path.display().to_string()];
    let child = ChildProcess::start(service.as_str(), args, &data_dir.join("logs"), "")?;
    let pinned = ServiceConfig { bind: listener(&child, service.as_str())?, ..service_config.clone() };
    std::fs::write(&path, serde_json::to_vec_pretty(&pinned)?)?;
    Ok(started(children, child))
}

fn set_url(urls: &mut Urls, service: ServiceName, url: String) {
    let slot = match service {
        ServiceName::Aws => &mut urls.aws,
        ServiceName::PetSearch => &mut urls.petsearch,
        ServiceName::StatusUpdater => &mut urls.statusupdater,
        ServiceName::StepFunctions => &mut urls.stepfunctions,
        ServiceName::PetHistory => &mut urls.pethistory,
        ServiceName::PayForAdoption => &mut urls.payforadoption,
        ServiceName::PetListAdoptions => &mut urls.petlistadoptions,
        ServiceName::PetSite => return,
    };
    *slot = Some(url);
}

/// Until Ctrl-C or SIGTERM: restarts a service that failed; gives up if Fluoro itself exits.
async fn supervise(
    children: &mut [ChildProcess],
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = anyhow::Result<()>>>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            signal = &mut stop => return signal,
            () = tokio::time::sleep(SUPERVISE_INTERVAL) => {}
        }
        for child in children.iter_mut() {
            let Some(status) = child.exited() else { continue };
            if !child.name.starts_with("fluoro-") && !status.success() {
                println!("fluoro demo: {} exited ({status}), restarting", child.name);
                child.restart()?;
                println!("fluoro demo: started {} pid {}", child.name, child.pid());
            } else if !status.success() || child.name.starts_with("fluoro-") {
                bail!("{} exited ({status}); see its log", child.name);
            }
        }
    }
}
