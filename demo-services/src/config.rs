//! The configuration `fluoro demo` writes for each service (`fluoro demo-service NAME --config
//! FILE`): where it listens, where its telemetry goes, where its dependencies are.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DemoError, Result};

/// One service's configuration, a JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Where the service listens; port 0 picks a free one (the service prints the address).
    pub bind: SocketAddr,
    /// The demo's state: the SQL database, the parameter store, the photo bucket.
    pub state_dir: PathBuf,
    /// The sidecar `fluoro daemon` (X-Ray UDP) for the X-Ray-instrumented services.
    #[serde(default)]
    pub xray_daemon: Option<SocketAddr>,
    /// The sidecar's sampling endpoints (TCP), for the X-Ray-instrumented services' rules.
    #[serde(default)]
    pub xray_sampling: Option<SocketAddr>,
    /// OTLP gRPC endpoint (`http://127.0.0.1:4317`) for the OpenTelemetry-instrumented services.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Base URLs (`http://127.0.0.1:PORT`) of the services this one calls.
    #[serde(default)]
    pub urls: Urls,
    /// Memory cap of the process in MiB (payforadoption's crash at its cap).
    #[serde(default = "default_memory_cap_mib")]
    pub memory_cap_mib: u64,
    /// How often the OpenTelemetry-instrumented services export their process metrics, in ms.
    #[serde(default = "default_metrics_interval_ms")]
    pub metrics_interval_ms: u64,
}

/// Base URLs of the other services, each set once that service is up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Urls {
    pub aws: Option<String>,
    pub petsearch: Option<String>,
    pub payforadoption: Option<String>,
    pub petlistadoptions: Option<String>,
    pub statusupdater: Option<String>,
    pub stepfunctions: Option<String>,
    pub pethistory: Option<String>,
}

/// The original's container limit for payforadoption (spec §5 (b)).
pub const DEFAULT_MEMORY_CAP_MIB: u64 = 512;

fn default_memory_cap_mib() -> u64 {
    DEFAULT_MEMORY_CAP_MIB
}

/// Every 10 s: a minute bucket gets several points, and a quiet demo sends little.
pub const DEFAULT_METRICS_INTERVAL_MS: u64 = 10_000;

fn default_metrics_interval_ms() -> u64 {
    DEFAULT_METRICS_INTERVAL_MS
}

impl ServiceConfig {
    pub fn load(path: &Path) -> Result<ServiceConfig> {
        let text = std::fs::read_to_string(path).map_err(DemoError::io(format!("cannot read {}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|error| DemoError::Config { path: path.display().to_string(), reason: error.to_string() })
    }

    /// A dependency's base URL, or a configuration error naming it.
    pub(crate) fn url(&self, name: &str, url: &Option<String>) -> Result<String> {
        url.clone().ok_or_else(|| DemoError::Config {
            path: "urls".to_owned(),
            reason: format!("this service needs the url of {name}"),
        })
    }
}
