//! `fluoro serve` in one process: every receiver, the sampling endpoints and the HTTP API,
//! started together on their own listeners and stopped together.
//!
//! | listener | default | serves |
//! |---|---|---|
//! | UDP | 127.0.0.1:2000 | X-Ray daemon protocol (`udp.rs`) |
//! | TCP | 127.0.0.1:2000 | `GetSamplingRules`, `SamplingTargets` for SDKs (`sampling.rs`) |
//! | HTTP | 127.0.0.1:2020 | X-Ray API (`xray_api.rs`), sampling rule management, `/metrics`; behind the optional API token (`api_token.rs`) and SigV4 keys (`sigv4.rs`) |
//! | gRPC | 127.0.0.1:4317 | OTLP `TraceService/Export`, `LogsService/Export`, `MetricsService/Export` (`otlp.rs`, `otlp/logs.rs`, `otlp/metrics.rs`) |
//! | HTTP | 127.0.0.1:4318 | OTLP `POST /v1/traces`, `POST /v1/logs`, `POST /v1/metrics` (`otlp.rs`) |
//!
//! Every address can be port 0; [`RunningServer`] reports the addresses actually bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_token::{guard, ApiToken};
use crate::counters::Counters;
use crate::error::CollectorError;
use crate::forward::{sampling_proxy_router, ForwardConfig, Forwarder};
use crate::http_listener::{serve_http, HttpLimits};
use crate::ingest::Ingest;
use crate::otlp::{otlp_http_router, serve_otlp_grpc};
use crate::sampling::{sampling_router, SamplingRules};
use crate::sigv4::{SigV4Keys, SignatureCheck};
use crate::udp::{UdpConfig, UdpHandoff, UdpReceiver};
use crate::xray_api::{metrics_router, xray_api_router_with_limits, XrayApiLimits};
use fluoro_proto::TraceSource;

/// Where each listener binds and where state lives.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub udp: UdpConfig,
    pub sampling_bind: SocketAddr,
    pub http_bind: SocketAddr,
    pub otlp_grpc_bind: SocketAddr,
    pub otlp_http_bind: SocketAddr,
    /// Sampling rules persist here (`sampling-rules.json`).
    pub data_dir: PathBuf,
    /// When set, the HTTP API port asks for it (`api_token.rs`).
    pub api_token: Option<ApiToken>,
    /// When set, the AWS operations on the HTTP API port ask for a SigV4 signature made with
    /// one of these keys (or the token) (`sigv4.rs`).
    pub sigv4_keys: Option<SigV4Keys>,
    /// Slow clients' bounds on every HTTP listener (`http_listener.rs`).
    pub http_limits: HttpLimits,
    /// Request limits of the X-Ray API (`[limits]`).
    pub xray_api_limits: XrayApiLimits,
    /// Whether to open the ingest listeners (UDP, sampling, OTLP); a query node does not.
    pub ingest_listeners: bool,
}

/// The addresses a started server listens on: the HTTP API always, the others when it ingests.
#[derive(Debug, Clone, Copy)]
pub struct ServerAddresses {
    pub http: SocketAddr,
    pub ingest: Option<IngestAddresses>,
}

/// Where the ingest listeners of a started server listen.
#[derive(Debug, Clone, Copy)]
pub struct IngestAddresses {
    pub udp: SocketAddr,
    pub sampling: SocketAddr,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
}

/// A started server; [`RunningServer::shutdown`] stops every listener.
#[derive(Debug)]
pub struct RunningServer {
    pub addresses: ServerAddresses,
    udp: Option<UdpReceiver>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), CollectorError>>>,
}

/// Binds every listener, then serves until [`RunningServer::shutdown`]. `api_routes` are
/// served beside the X-Ray ingest API on the HTTP port (the analyzer's queries, the dashboard).
pub async fn start(
    config: ServerConfig,
    ingest: Ingest,
    traces: Arc<dyn TraceSource>,
    api_routes: axum::Router,
) -> Result<RunningServer, CollectorError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let rules = Arc::new(
        SamplingRules::open(&config.data_dir.join("sampling-rules.json"))
            .map_err(|error| CollectorError::Io(std::io::Error::other(error.to_string())))?,
    );
    let http = bind(config.http_bind).await?;
    let (stop, stopped) = watch::channel(false);
    let api = xray_api_router_with_limits(ingest.clone(), traces, config.xray_api_limits)
        .merge(sampling_router(rules.clone()))
        .merge(api_routes);
    let signatures = config.sigv4_keys.clone().map(|keys| SignatureCheck {
        keys,
        max_body_bytes: config.xray_api_limits.request_body_bytes,
        token: config.api_token.clone(),
    });
    let api = guard(api, config.api_token.clone(), signatures);
    let limits = config.http_limits;
    let mut addresses = ServerAddresses { http: http.local_addr()?, ingest: None };
    let mut tasks = vec![tokio::spawn(serve_http(http, api, limits, wait_for(stopped.clone())))];
    if !config.ingest_listeners {
        return Ok(RunningServer { addresses, udp: None, stop, tasks });
    }
    let sampling = bind(config.sampling_bind).await?;
    let otlp_grpc = bind(config.otlp_grpc_bind).await?;
    let otlp_http = bind(config.otlp_http_bind).await?;
    let udp = UdpReceiver::start(config.udp.clone(), ingest.clone())?;
    addresses.ingest = Some(IngestAddresses {
        udp: udp.local_addr(),
        sampling: sampling.local_addr()?,
        otlp_grpc: otlp_grpc.local_addr()?,
        otlp_http: otlp_http.local_addr()?,
    });
    tasks.extend([
        tokio::spawn(serve_http(sampling, sampling_router(rules), limits, wait_for(stopped.clone()))),
        tokio::spawn(serve_http(otlp_http, otlp_http_router(ingest.clone()), limits, wait_for(stopped.clone()))),
        tokio::spawn(serve_otlp_grpc(otlp_grpc, ingest, limits, wait_for(stopped))),
    ]);
    Ok(RunningServer { addresses, udp: Some(udp), stop, tasks })
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, and joins every receiver.
    pub async fn shutdown(self) -> Result<(), CollectorError> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await.map_err(|error| CollectorError::Io(std::io::Error::other(error)))??;
        }
        tokio::task::spawn_blocking(move || self.udp.map(UdpReceiver::shutdown))
            .await
            .map_err(|error| CollectorError::Io(std::io::Error::other(error)))?;
        Ok(())
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, CollectorError> {
    TcpListener::bind(address).await.map_err(|source| CollectorError::Bind { address: address.to_string(), source })
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Where a sidecar daemon listens and where it forwards.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub udp: UdpConfig,
    pub sampling_bind: SocketAddr,
    /// `/metrics` and `/api/counters` of the daemon itself.
    pub http_bind: SocketAddr,
    pub forward: ForwardConfig,
    /// Slow clients' bounds on the sampling proxy and metrics listeners (`http_listener.rs`).
    pub http_limits: HttpLimits,
}

/// A started sidecar daemon.
#[derive(Debug)]
pub struct RunningDaemon {
    pub udp: SocketAddr,
    pub sampling: SocketAddr,
    pub http: SocketAddr,
    receiver: UdpReceiver,
    forwarder: Forwarder,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), CollectorError>>>,
}

/// Starts a sidecar: the UDP receiver relaying raw documents to a [`Forwarder`], the sampling
/// proxy, metrics.
pub async fn start_daemon(config: DaemonConfig, counters: Arc<Counters>) -> Result<RunningDaemon, CollectorError> {
    let sampling = bind(config.sampling_bind).await?;
    let http = bind(config.http_bind).await?;
    let collectors = config.forward.collectors.clone();
    let credentials = config.forward.credentials.clone();
    let (sink, forwarder) = Forwarder::start(config.forward, counters.clone());
    // A relay: documents are not parsed here but by the central collector (`forward.rs`).
    let receiver = UdpReceiver::start(config.udp, UdpHandoff::Relay(sink))?;
    let (stop, stopped) = watch::channel(false);
    let udp = receiver.local_addr();
    let (sampling_addr, http_addr) = (sampling.local_addr()?, http.local_addr()?);
    let limits = config.http_limits;
    let tasks = vec![
        tokio::spawn(serve_http(
            sampling,
            sampling_proxy_router(&collectors, credentials),
            limits,
            wait_for(stopped.clone()),
        )),
        tokio::spawn(serve_http(http, metrics_router(counters), limits, wait_for(stopped))),
    ];
    Ok(RunningDaemon { udp, sampling: sampling_addr, http: http_addr, receiver, forwarder, stop, tasks })
}

impl RunningDaemon {
    /// Documents waiting to be forwarded.
    pub fn buffered(&self) -> usize {
        self.forwarder.buffered()
    }

    /// Stops receiving, then gives the forwarder `grace` to deliver what it holds.
    pub async fn shutdown(self, grace: std::time::Duration) -> Result<(), CollectorError> {
        let receiver = self.receiver;
        tokio::task::spawn_blocking(move || receiver.shutdown())
            .await
            .map_err(|error| CollectorError::Io(std::io::Error::other(error)))?;
        self.forwarder.shutdown(grace).await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await.map_err(|error| CollectorError::Io(std::io::Error::other(error)))??;
        }
        Ok(())
    }
}
