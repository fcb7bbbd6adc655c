//! `fluoro serve` and `fluoro daemon` started with their default addresses listen on loopback
//! only: every TCP listener and UDP socket the kernel reports for the process (`/proc/PID/net/*`)
//! is bound to 127.0.0.1, none to 0.0.0.0, `::` or another interface. Each process runs in its
//! own network namespace (`unshare -rn`), so the default ports (2000, 2020, 4317, …) never clash
//! with another test or a Fluoro running on the machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// 127.0.0.1 as `/proc/net/tcp` prints it (the address in host byte order, little-endian here).
const LOOPBACK_V4: &str = "0100007F";
/// `st` of a listening TCP socket.
const TCP_LISTEN: &str = "0A";

/// A `fluoro` subcommand in a fresh network namespace with only `lo` up; killed on drop.
struct Isolated {
    child: Child,
}

impl Isolated {
    /// Starts `fluoro ARGS…` and returns once it printed `ready_line`.
    fn start(args: &[&str], ready_line: &str) -> Isolated {
        // Root needs no user namespace for a network namespace (and some machines allow none).
        let namespaces = if running_as_root() { "-n" } else { "-rn" };
        let mut child = Command::new("unshare")
            .args([namespaces, "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#, env!("CARGO_BIN_EXE_fluoro")])
            .args(args)
            .env("FLUORO_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare runs (util-linux) and may create a user and network namespace");
        let stdout = child.stdout.take().unwrap();
        let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line == ready_line);
        assert!(ready, "{args:?} never printed {ready_line:?}");
        Isolated { child }
    }

    /// The `local_address` column of `/proc/PID/net/TABLE`, kept when `keep(state)` holds.
    fn local_addresses(&self, table: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let path = format!("/proc/{}/net/{table}", self.child.id());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let columns: Vec<&str> = line.split_whitespace().collect();
                let (local, state) = (columns.get(1)?, columns.get(3)?);
                keep(state).then(|| (*local).to_owned())
            })
            .collect()
    }

    /// Every listening TCP socket and every UDP socket, as `HEXADDR:HEXPORT`.
    fn bound_sockets(&self) -> (Vec<String>, Vec<String>) {
        let listening = |state: &str| state == TCP_LISTEN;
        let mut tcp = self.local_addresses("tcp", listening);
        tcp.extend(self.local_addresses("tcp6", listening));
        let mut udp = self.local_addresses("udp", |_| true);
        udp.extend(self.local_addresses("udp6", |_| true));
        (tcp, udp)
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `HEXADDR:HEXPORT` → port.
fn port(local: &str) -> u16 {
    let (_, port) = local.rsplit_once(':').unwrap();
    u16::from_str_radix(port, 16).unwrap()
}

fn assert_loopback_only(what: &str, sockets: &[String]) {
    let exposed: Vec<&String> = sockets.iter().filter(|local| !local.starts_with(&format!("{LOOPBACK_V4}:"))).collect();
    assert!(exposed.is_empty(), "{what} bound beyond 127.0.0.1: {exposed:?} (all: {sockets:?})");
}

fn sorted_ports(sockets: &[String]) -> Vec<u16> {
    let mut ports: Vec<u16> = sockets.iter().map(|local| port(local)).collect();
    ports.sort_unstable();
    ports
}

#[test]
fn fluoro_serve_listens_on_loopback_only() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = Isolated::start(&["serve", "--data-dir", data_dir.path().to_str().unwrap()], "fluoro: ready");
    let (tcp, udp) = server.bound_sockets();
    // The check means something only if it sees the default listeners.
    assert_eq!(sorted_ports(&tcp), [2000, 2020, 4317, 4318], "TCP listeners: {tcp:?}");
    assert_eq!(sorted_ports(&udp), [2000], "UDP sockets: {udp:?}");
    assert_loopback_only("fluoro serve (TCP)", &tcp);
    assert_loopback_only("fluoro serve (UDP)", &udp);
}

#[test]
fn fluoro_daemon_listens_on_loopback_only() {
    let daemon = Isolated::start(&["daemon", "--forward", "http://127.0.0.1:2020"], "fluoro daemon: ready");
    let (tcp, udp) = daemon.bound_sockets();
    assert_eq!(sorted_ports(&tcp), [2000, 2021], "TCP listeners: {tcp:?}");
    assert_eq!(sorted_ports(&udp), [2000], "UDP sockets: {udp:?}");
    assert_loopback_only("fluoro daemon (TCP)", &tcp);
    assert_loopback_only("fluoro daemon (UDP)", &udp);
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}
