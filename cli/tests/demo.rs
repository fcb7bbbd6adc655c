//! Starts `fluoro demo` as a child process on free ports with fast pacing, and reads what it
//! prints: the dashboard and PetSite URLs and the pid of every child it started.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub(crate) struct Demo {
    child: Child,
    data_dir: std::path::PathBuf,
    /// What the demo printed after it was ready.
    output: Arc<Mutex<Vec<String>>>,
    pub(crate) dashboard: String,
    pub(crate) petsite: String,
    pub(crate) child_pids: Vec<u32>,
}

impl Demo {
    pub(crate) fn start(data_dir: &Path) -> Demo {
        Demo::start_with(data_dir, &[])
    }

    pub(crate) fn start_with(data_dir: &Path, extra_args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fluoro"))
            .arg("demo")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--pace", "20"])
            .args(extra_args)
            .args(["--http-bind", "127.0.0.1:0", "--otlp-grpc-bind", "127.0.0.1:0", "--otlp-http-bind", "127.0.0.1:0"])
            .args([
                "--sidecar-bind",
                "127.0.0.1:0",
                "--sidecar-http-bind",
                "127.0.0.1:0",
                "--petsite-bind",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("fluoro demo starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut dashboard, mut petsite, mut child_pids) = (String::new(), String::new(), Vec::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line == "fluoro demo: ready" {
                break;
            }
            if let Some(url) = line.strip_prefix("fluoro demo: dashboard ") {
                dashboard = url.trim_end_matches('/').to_owned();
            }
            if let Some(url) = line.strip_prefix("fluoro demo: petsite ") {
                petsite = url.trim_end_matches('/').to_owned();
            }
            // "fluoro demo: started petsite pid 1234"
            if let Some(rest) = line.strip_prefix("fluoro demo: started ") {
                child_pids.push(rest.rsplit(' ').next().unwrap().parse().unwrap());
            }
        }
        assert!(!dashboard.is_empty() && !petsite.is_empty(), "fluoro demo printed its URLs");
        // Keep reading, so the demo never blocks on a full pipe.
        let output = Arc::new(Mutex::new(Vec::new()));
        let kept = output.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Demo { child, data_dir: data_dir.to_owned(), output, dashboard, petsite, child_pids }
    }

    /// The lines printed since the demo was ready.
    pub(crate) fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// `fluoro demo scenario ARGS…` against this demo; returns what it printed.
    pub(crate) fn scenario(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_fluoro"))
            .args(["demo", "--data-dir"])
            .arg(&self.data_dir)
            .arg("scenario")
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "scenario {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// A form POSTed to PetSite; the page.
    pub(crate) fn petsite_form(&self, path: &str, form: &[(&str, &str)]) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let response =
                reqwest::Client::new().post(format!("{}{path}", self.petsite)).form(form).send().await.unwrap();
            assert_eq!(response.status(), 200, "PetSite {path}");
            response.text().await.unwrap()
        })
    }

    /// SIGINT, as Ctrl-C sends, then the exit status within a deadline.
    pub(crate) fn interrupt(mut self) -> (ExitStatus, Vec<u32>) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, std::mem::take(&mut self.child_pids));
            }
            assert!(Instant::now() < deadline, "fluoro demo did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POSTs `body` to the dashboard's API; the answer must be a success.
    pub(crate) fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let response =
                reqwest::Client::new().post(format!("{}{path}", self.dashboard)).json(&body).send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(status.is_success(), "{path} answered {status}: {body}");
            body
        })
    }
}

/// Whether a process is still there (an orphan would be, reparented to init).
pub(crate) fn is_running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Drop for Demo {
    fn drop(&mut self) {
        // A failed test must not leave the demo running: SIGINT stops its children too.
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
            let _ = self.child.wait();
        }
    }
}
