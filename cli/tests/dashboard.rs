//! The dashboard under test: `fluoro serve` fed a known topology through the real X-Ray and
//! OpenTelemetry Python SDKs (`python/dashboard_topology.py`), then driven in Debian's headless
//! Chromium over WebDriver (`python/dashboard_browser.py`, selenium + chromedriver). Chromium
//! missing is a failure, not a skip: `.ci/run` installs it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::FluoroServer;

/// Traces the topology script sends: its 24 requests, 100 health checks and the probe trace.
const TRACES_SENT: usize = 125;
/// Nodes of the topology's map: frontend, petsearch, payments, DynamoDB, the SQL database,
/// health, S3 and the probe, and the clients of frontend, health and the probe.
const NODES: usize = 11;

pub(crate) struct Dashboard {
    pub(crate) server: FluoroServer,
    /// What the topology script sent: trace ids by kind, the probe's payload.
    pub(crate) facts: Value,
    _data_dir: tempfile::TempDir,
}

impl Dashboard {
    pub(crate) fn start() -> Dashboard {
        Dashboard::start_with(|_| {})
    }

    /// `prepare` writes into the data dir before the server starts (e.g. a persisted `alarms.json`).
    pub(crate) fn start_with(prepare: impl FnOnce(&std::path::Path)) -> Dashboard {
        let data_dir = tempfile::tempdir().unwrap();
        prepare(data_dir.path());
        let server = FluoroServer::start(data_dir.path());
        Dashboard::fill(server, data_dir)
    }

    /// A server that asks for `token` (`--api-token-file`); the facts then hold it as `api_token`.
    pub(crate) fn start_with_token(token: &str) -> Dashboard {
        let data_dir = tempfile::tempdir().unwrap();
        let token_file = data_dir.path().join("api-token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let mut server =
            FluoroServer::start_with(data_dir.path(), &["--api-token-file".as_ref(), token_file.as_os_str()]);
        server.token = Some(token.to_owned());
        let mut dashboard = Dashboard::fill(server, data_dir);
        dashboard.facts["api_token"] = json!(token);
        dashboard
    }

    /// Sends the topology and waits until all of it is queryable.
    fn fill(server: FluoroServer, data_dir: tempfile::TempDir) -> Dashboard {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dashboard_topology.py");
        let ports = [server.port("udp"), server.port("otlp-http")].map(|port| port.to_string());
        let run = Command::new("python3").arg(script).args(&ports).output().unwrap();
        assert!(run.status.success(), "dashboard_topology.py failed: {}", String::from_utf8_lossy(&run.stderr));
        let facts: Value = serde_json::from_slice(&run.stdout).unwrap();
        let dashboard = Dashboard { server, facts, _data_dir: data_dir };
        dashboard.wait_for_everything();
        dashboard
    }

    /// UDP is asynchronous: wait until every trace and every node is queryable.
    fn wait_for_everything(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = now_seconds();
            let window = json!({"StartTime": now - 900.0, "EndTime": now + 60.0});
            let graph = self.server.post("/ServiceGraph", window.clone());
            let nodes = graph["Services"].as_array().map_or(0, Vec::len);
            let histogram = self.server.post("/api/histogram", window);
            let traces = histogram["Traces"].as_u64().unwrap_or(0) as usize;
            if nodes == NODES && traces == TRACES_SENT {
                return;
            }
            assert!(Instant::now() < deadline, "the topology never arrived whole: {nodes} nodes, {traces} traces");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs one browser scenario; its checks failing fail the test. The screenshot goes to
    /// `target/screenshots/<name>.png` under the workspace root.
    pub(crate) fn browse(&self, scenario: &str, screenshot_name: &str) -> Value {
        let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&screenshots).unwrap();
        let screenshot = screenshots.join(format!("{screenshot_name}.png"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dashboard_browser.py");
        let run = Command::new("python3")
            .arg(script)
            .arg(scenario)
            .arg(self.server.url("/"))
            .arg(&screenshot)
            .arg(self.facts.to_string())
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "browser scenario {scenario} failed (screenshot beside {}):\n{}",
            screenshot.display(),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(screenshot.exists(), "the scenario saved {}", screenshot.display());
        serde_json::from_slice(&run.stdout).unwrap()
    }
}

pub(crate) fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}
