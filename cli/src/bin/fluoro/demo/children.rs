//! The demo's child processes: started from this same binary, announced on their standard
//! output (`… listening NAME ADDR`, then ready), logging to a file each, stopped with SIGTERM
//! (SIGKILL after a grace period), and watched so a crashed service is restarted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a child has to announce itself.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child has to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a child printed before it was ready: listener name → address.
pub(crate) type Listeners = HashMap<String, SocketAddr>;

/// A running child and how to start it again.
pub(crate) struct ChildProcess {
    pub(crate) name: String,
    args: Vec<String>,
    log_path: PathBuf,
    ready_line: String,
    child: Child,
    /// Held open: its end tells a demo service that the demo is gone.
    _stdin: ChildStdin,
    pub(crate) listeners: Listeners,
}

impl ChildProcess {
    /// Starts `fluoro ARGS…`, waits for `ready_line` on its standard output and collects the
    /// `<prefix> listening NAME ADDR` lines before it.
    pub(crate) fn start(
        name: &str,
        args: Vec<String>,
        log_dir: &Path,
        ready_line: &str,
    ) -> anyhow::Result<ChildProcess> {
        let log_path = log_dir.join(format!("{name}.log"));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let executable = std::env::current_exe().context("cannot find the fluoro executable")?;
        let mut child = Command::new(executable)
            .args(&args)
            // The demo's server is open on loopback: its own children call it without a token.
            .env_remove("FLUORO_API_TOKEN")
            .env("FLUORO_LOG", std::env::var("FLUORO_LOG").unwrap_or_else(|_| "warn".to_owned()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone()?))
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdin = child.stdin.take().context("no stdin pipe")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let listeners = match read_until_ready(stdout, log, ready_line) {
            Ok(listeners) => listeners,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error.context(format!("{name} did not start; see {}", log_path.display())));
            }
        };
        Ok(ChildProcess {
            name: name.to_owned(),
            args,
            log_path,
            ready_line: ready_line.to_owned(),
            child,
            _stdin: stdin,
            listeners,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The same command again, e.g. after a crash; `args` may have been pinned to the ports
    /// the first run got.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        let log_dir = self.log_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let fresh = ChildProcess::start(&self.name, self.args.clone(), &log_dir, &self.ready_line)?;
        *self = fresh;
        Ok(())
    }

    /// SIGTERM, without waiting.
    pub(crate) fn terminate(&self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }

    /// Waits for the exit after `terminate`, killing the child at the deadline.
    pub(crate) fn wait_or_kill(&mut self, deadline: Instant) {
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops `children` in reverse start order: SIGTERM to each group, then the wait.
pub(crate) fn stop_all(children: &mut [ChildProcess]) {
    for child in children.iter_mut().rev() {
        child.terminate();
        child.wait_or_kill(Instant::now() + STOP_TIMEOUT);
    }
}

fn read_until_ready(stdout: std::process::ChildStdout, mut log: File, ready_line: &str) -> anyhow::Result<Listeners> {
    let (lines_sender, lines) = mpsc::channel();
    // The reader thread outlives the start: it keeps draining stdout into the log, so a
    // chatty child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log, "{line}");
            let _ = lines_sender.send(line);
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut listeners = Listeners::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => bail!("no {ready_line:?} within {START_TIMEOUT:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("exited before {ready_line:?}"),
        };
        if let Some((name, address)) = listening(&line) {
            listeners.insert(name, address);
        }
        if line == ready_line || (ready_line.is_empty() && !listeners.is_empty()) {
            return Ok(listeners);
        }
    }
}

/// `… listening NAME ADDR …` → (NAME, ADDR).
fn listening(line: &str) -> Option<(String, SocketAddr)> {
    let rest = &line[line.find(" listening ")? + " listening ".len()..];
    let mut words = rest.split_whitespace();
    let (name, address) = (words.next()?, words.next()?);
    Some((name.to_owned(), address.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn listener_lines_of_every_child_kind_are_read() {
        let line = "fluoro: listening otlp-grpc 127.0.0.1:4317 (traces, logs)";
        assert_eq!(super::listening(line).unwrap().0, "otlp-grpc");
        let line = "fluoro demo-service: listening petsite 127.0.0.1:8080";
        assert_eq!(super::listening(line).unwrap().1.port(), 8080);
        assert!(super::listening("fluoro: ready").is_none());
    }
}
