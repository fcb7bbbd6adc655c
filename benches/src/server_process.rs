//! A real `fluoro serve` process for whole-server benchmarks: started on free loopback ports in
//! its own data dir, its listeners read from the lines it prints, its CPU time and peak memory
//! read from `/proc` (the whole process: receive, parse, store, write-ahead log, background
//! work), its ingest counters from `GET /api/counters`. Stopped with SIGTERM when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use serde::Deserialize;

/// A running server.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub listeners: HashMap<String, SocketAddr>,
}

impl ServerProcess {
    /// Starts `fluoro serve` (the binary at `fluoro`) on `data_dir`, emptied first, with every
    /// listener on a free loopback port; returns once it prints `fluoro: ready`.
    pub fn start(fluoro: &Path, data_dir: &Path) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_with(fluoro, data_dir, &[])
    }

    /// [`ServerProcess::start`] with more flags for `fluoro serve`.
    pub fn start_with(fluoro: &Path, data_dir: &Path, flags: &[String]) -> anyhow::Result<ServerProcess> {
        if data_dir.exists() {
            std::fs::remove_dir_all(data_dir).with_context(|| format!("cannot empty {}", data_dir.display()))?;
        }
        let mut command = Command::new(fluoro);
        command.arg("serve").arg("--data-dir").arg(data_dir);
        for flag in ["--udp-bind", "--sampling-bind", "--http-bind", "--otlp-grpc-bind", "--otlp-http-bind"] {
            command.args([flag, "127.0.0.1:0"]);
        }
        command.args(flags);
        let mut child = command
            .env("FLUORO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {} (build it with cargo build --release)", fluoro.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut listeners = HashMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if line == "fluoro: ready" {
                return Ok(ServerProcess { child, listeners });
            }
            // `fluoro: listening udp 127.0.0.1:40123 (X-Ray daemon protocol)`
            if let Some(rest) = line.strip_prefix("fluoro: listening ") {
                let mut words = rest.split_whitespace();
                if let (Some(kind), Some(address)) = (words.next(), words.next()) {
                    listeners.insert(kind.to_owned(), address.parse()?);
                }
            }
        }
        let _ = child.wait();
        bail!("fluoro serve stopped before it was ready")
    }

    pub fn listener(&self, kind: &str) -> anyhow::Result<SocketAddr> {
        self.listeners.get(kind).copied().with_context(|| format!("the server printed no {kind} listener"))
    }

    /// CPU seconds (user + system) of the whole process so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        crate::thread_name_and_cpu(&stat).map(|(_, seconds)| seconds).context("unreadable /proc stat")
    }

    /// Peak resident memory so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:")).context("no VmHWM")?;
        Ok(line.split_whitespace().nth(1).context("empty VmHWM")?.parse()?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// One source's counts in `GET /api/counters`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SourceCounts {
    pub source: String,
    pub received: u64,
    pub accepted: u64,
    pub rejected: Vec<(String, u64)>,
    pub dropped: Vec<(String, u64)>,
}

impl SourceCounts {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, count)| count).sum()
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, count)| count).sum()
    }
}

#[derive(Debug, Deserialize)]
struct CountersSnapshot {
    sources: Vec<SourceCounts>,
}

/// The counts of `source` (`udp`, `otlp_grpc`, `otlp_http`…) on the server at `http`.
pub async fn source_counts(client: &reqwest::Client, http: SocketAddr, source: &str) -> anyhow::Result<SourceCounts> {
    let snapshot: CountersSnapshot =
        client.get(format!("http://{http}/api/counters")).send().await?.error_for_status()?.json().await?;
    Ok(snapshot.sources.into_iter().find(|counts| counts.source == source).unwrap_or_default())
}
