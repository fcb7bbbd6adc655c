//! Slow and stalled HTTP clients (slowloris) do not exhaust `fluoro serve`: hundreds of sockets
//! that connect and say nothing, trickle half a request head, or stall mid-body on the API and
//! OTLP HTTP ports, and that connect to the OTLP gRPC port and say nothing, are closed after
//! `[http]`'s timeouts, while a normal client's requests keep
//! being answered; the server's file descriptors stay within the connection bound and come back
//! down once the stalled sockets are gone.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::fluoro_daemon_relays_raw_documents::{get_text, FluoroDaemon};
use crate::server::FluoroServer;

/// Stalled sockets per kind and port: silent, half a head, half a body.
const STALLED_PER_KIND: usize = 60;
const MAX_CONNECTIONS: usize = 400;

#[test]
fn fluoro_serve_sheds_slow_clients() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("fluoro.toml");
    let limits = format!(
        "[http]\nheader_read_timeout_seconds = 1\nbody_read_timeout_seconds = 1\nmax_connections = {MAX_CONNECTIONS}\n"
    );
    std::fs::write(&config, limits).unwrap();
    let server = FluoroServer::start_with(data_dir.path(), &[OsStr::new("--config"), config.as_os_str()]);
    let pid = server.pid();
    let fds_before = open_fds(pid);

    let mut stalled = Vec::new();
    for port in ["http", "otlp-http"] {
        let address = server.addresses[port];
        for _ in 0..STALLED_PER_KIND {
            stalled.push(connect(address, b""));
            stalled.push(connect(address, b"POST /v1/traces HTTP/1.1\r\nHost: fluoro\r\nContent-Ty"));
            stalled.push(connect(
                address,
                b"POST /TraceSummaries HTTP/1.1\r\nHost: fluoro\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"StartTime\": ",
            ));
        }
    }
    // HTTP/2 has no handshake timeout: the gRPC port closes silent connections itself.
    for _ in 0..STALLED_PER_KIND {
        stalled.push(connect(server.addresses["otlp-grpc"], b""));
    }
    let fds_stalled = open_fds(pid);
    assert!(
        fds_stalled <= fds_before + 3 * MAX_CONNECTIONS,
        "{fds_stalled} descriptors with {} stalled sockets (bound {MAX_CONNECTIONS} per listener, {fds_before} before)",
        stalled.len()
    );

    // A normal client is answered all along.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _entered = runtime.enter();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for _ in 0..10 {
        let answer = runtime.block_on(client.get(server.url("/metrics")).send()).expect("answered while stalled");
        assert_eq!(answer.status(), 200);
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every stalled socket is closed by the server (a 408 first for a stalled body is fine).
    let deadline = Instant::now() + Duration::from_secs(10);
    for (index, mut socket) in stalled.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
        socket.set_read_timeout(Some(left)).unwrap();
        let mut answer = Vec::new();
        match socket.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("stalled socket {index} still open after the timeouts: {error}"),
        }
    }
    let settle = Instant::now() + Duration::from_secs(5);
    while open_fds(pid) > fds_before + 5 && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
    }
    let fds_after = open_fds(pid);
    assert!(fds_after <= fds_before + 5, "descriptors back down: {fds_after} (before {fds_before})");
    let answer = runtime.block_on(client.get(server.url("/metrics")).send()).unwrap();
    assert_eq!(answer.status(), 200);
}

/// The sidecar's listeners take the same bounds as flags: a socket that says nothing is closed
/// after `--header-read-timeout-seconds` (1 s here, 10 s by default), and /metrics is answered
/// meanwhile.
#[test]
fn fluoro_daemon_sheds_silent_clients_after_its_header_timeout() {
    let daemon = FluoroDaemon::start_with(
        &["http://127.0.0.1:9"],
        &["--header-read-timeout-seconds", "1", "--body-read-timeout-seconds", "1", "--max-connections", "64"],
    );
    let started = Instant::now();
    let mut silent: Vec<TcpStream> = (0..20).map(|_| connect(daemon.http, b"GET /metr")).collect();
    assert!(get_text(&format!("http://{}/metrics", daemon.http)).contains("fluoro_"));
    for (index, socket) in silent.iter_mut().enumerate() {
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = Vec::new();
        match socket.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("silent socket {index} still open after 5 s: {error}"),
        }
    }
    let closed_after = started.elapsed();
    assert!(closed_after < Duration::from_secs(4), "closed after {closed_after:?}, not after the 1 s timeout");
}

fn connect(address: SocketAddr, first_bytes: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(address).unwrap();
    socket.write_all(first_bytes).unwrap();
    socket
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}
