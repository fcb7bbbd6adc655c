//! Starts `fluoro serve` as a child process on free ports and stops it with SIGTERM, or kills
//! it with SIGKILL to test recovery (start again on the same data dir).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct FluoroServer {
    child: Child,
    pub(crate) addresses: HashMap<String, SocketAddr>,
    /// The API token [`FluoroServer::post`] sends, for a server started with one.
    pub(crate) token: Option<String>,
}

impl FluoroServer {
    pub(crate) fn start(data_dir: &Path) -> FluoroServer {
        FluoroServer::start_with(data_dir, &[])
    }

    /// With extra arguments, such as `--config FILE`.
    pub(crate) fn start_with(data_dir: &Path, extra_args: &[&std::ffi::OsStr]) -> FluoroServer {
        FluoroServer::start_logging(data_dir, extra_args, "warn", Stdio::inherit())
    }

    /// With the server log at `level` (`FLUORO_LOG`) going to `stderr`, e.g. a file to read.
    pub(crate) fn start_logging(
        data_dir: &Path,
        extra_args: &[&std::ffi::OsStr],
        level: &str,
        stderr: Stdio,
    ) -> FluoroServer {
        FluoroServer::start_env(data_dir, extra_args, &[("FLUORO_LOG", level)], stderr)
    }

    /// With these environment variables; `extra_args` may hold `--http-bind ADDR` (a port kept
    /// across a restart), else the HTTP API takes a free port too.
    pub(crate) fn start_env(
        data_dir: &Path,
        extra_args: &[&std::ffi::OsStr],
        envs: &[(&str, &str)],
        stderr: Stdio,
    ) -> FluoroServer {
        FluoroServer::launch(Command::new(env!("CARGO_BIN_EXE_fluoro")), data_dir, extra_args, envs, stderr)
    }

    /// `fluoro serve` run by a wrapper: `wrapper[0] wrapper[1..] FLUORO serve …`, such as a
    /// shell that mounts a small filesystem first and then `exec`s the rest. The wrapper must
    /// `exec`, so that the child is the server.
    pub(crate) fn start_wrapped(wrapper: &[&str], data_dir: &Path, extra_args: &[&std::ffi::OsStr]) -> FluoroServer {
        let mut command = Command::new(wrapper[0]);
        command.args(&wrapper[1..]).arg(env!("CARGO_BIN_EXE_fluoro"));
        FluoroServer::launch(command, data_dir, extra_args, &[], Stdio::inherit())
    }

    fn launch(
        mut command: Command,
        data_dir: &Path,
        extra_args: &[&std::ffi::OsStr],
        envs: &[(&str, &str)],
        stderr: Stdio,
    ) -> FluoroServer {
        command.arg("serve").args(extra_args).arg("--data-dir").arg(data_dir);
        command.args(["--udp-bind", "127.0.0.1:0", "--sampling-bind", "127.0.0.1:0"]);
        if !extra_args.iter().any(|arg| *arg == "--http-bind") {
            command.args(["--http-bind", "127.0.0.1:0"]);
        }
        command.args(["--otlp-grpc-bind", "127.0.0.1:0", "--otlp-http-bind", "127.0.0.1:0"]);
        let mut child = command
            .env("FLUORO_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("fluoro serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut addresses = HashMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line == "fluoro: ready" {
                break;
            }
            // "fluoro: listening udp 127.0.0.1:41234 (…)"
            if let Some(rest) = line.strip_prefix("fluoro: listening ") {
                let mut words = rest.split_whitespace();
                let (name, address) = (words.next().unwrap(), words.next().unwrap());
                addresses.insert(name.to_owned(), address.parse().unwrap());
            }
        }
        // A query node (`--role query`) opens the HTTP API only.
        let expected = if extra_args.windows(2).any(|pair| pair == ["--role", "query"]) { 1 } else { 5 };
        assert_eq!(addresses.len(), expected, "every listener reported: {addresses:?}");
        FluoroServer { child, addresses, token: None }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn port(&self, listener: &str) -> u16 {
        self.addresses[listener].port()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addresses["http"])
    }

    /// POSTs `body` to the HTTP API and returns the JSON answer, which must be a success.
    pub(crate) fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut request = reqwest::Client::new().post(self.url(path)).json(&body);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(status.is_success(), "{path} answered {status}: {body}");
            body
        })
    }

    /// SIGTERM, then the exit status within a deadline.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "fluoro serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl FluoroServer {
    /// SIGKILL: no chance to flush or sync; waits until the process is gone.
    pub(crate) fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for FluoroServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
