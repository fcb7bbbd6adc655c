//! UDP load in the X-Ray daemon protocol: datagrams made from template documents with a
//! patchable trace id, paced sender threads, and the raw receive-and-discard sink every UDP
//! benchmark measures against (`SO_REUSEPORT`, `recvmmsg`, one thread per socket, counting).

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders};
use socket2::{Domain, Protocol, Socket, Type};

use crate::TRACE_PLACEHOLDER;

/// The daemon protocol's header line.
pub const HEADER: &str = r#"{"format":"json","version":1}"#;
/// Datagrams a sender sends between two looks at the clock and the stop flag.
const SENDS_PER_COUNT: u64 = 64;
const RAW_BATCH: usize = 32;
const RAW_BUFFER_BYTES: usize = 64 * 1024 + 1;

/// The datagrams of one trace (header, newline, document), each with the position of its
/// trace id's [`TRACE_PLACEHOLDER`].
#[derive(Debug, Clone)]
pub struct Template {
    pub datagrams: Vec<(Vec<u8>, usize)>,
}

impl Template {
    /// One datagram per document; every document must parse once its trace id is patched.
    pub fn new(documents: &[String]) -> anyhow::Result<Template> {
        let mut datagrams = Vec::with_capacity(documents.len());
        for document in documents {
            let datagram = format!("{HEADER}\n{document}").into_bytes();
            let at = datagram
                .windows(TRACE_PLACEHOLDER.len())
                .position(|window| window == TRACE_PLACEHOLDER.as_bytes())
                .context("a template document has no trace id placeholder")?;
            let mut check = datagram.clone();
            set_trace(&mut check, at, 1, 1);
            fluoro_proto::parse_document(Template::body(&check))
                .map_err(|error| anyhow::anyhow!("bad template document: {error}"))?;
            datagrams.push((datagram, at));
        }
        Ok(Template { datagrams })
    }

    /// A datagram's document, after the header line.
    pub fn body(datagram: &[u8]) -> &[u8] {
        &datagram[HEADER.len() + 1..]
    }
}

/// Writes `sender` and `serial` as the trace id's 24 hex digits at `at`.
pub fn set_trace(datagram: &mut [u8], at: usize, sender: u64, serial: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value = (u128::from(sender) << 64) | u128::from(serial);
    let digits = &mut datagram[at..at + TRACE_PLACEHOLDER.len()];
    for (index, digit) in digits.iter_mut().rev().enumerate() {
        *digit = HEX[((value >> (4 * index)) & 0xf) as usize];
    }
}

/// Sends the template's traces to `address` at `rate` datagrams per second (0: as fast as it
/// can) until `stop`, or until `limit` datagrams (0: no limit); counts what the kernel took in `sent`.
pub fn send_loop(
    address: SocketAddr,
    sender: u64,
    template: &Template,
    rate: u64,
    limit: u64,
    stop: &AtomicBool,
    sent: &AtomicU64,
) {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else { return };
    if socket.connect(address).is_err() {
        return;
    }
    let mut datagrams = template.datagrams.clone();
    let (mut serial, mut count) = (0u64, 0u64);
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && (limit == 0 || count < limit) {
        if rate > 0 {
            let due = Duration::from_secs_f64(count as f64 / rate as f64);
            if let Some(early) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(early);
            }
        }
        let mut ok = 0;
        while ok < SENDS_PER_COUNT && (limit == 0 || count < limit) {
            serial += 1;
            for (datagram, at) in &mut datagrams {
                set_trace(datagram, *at, sender, serial);
                ok += u64::from(socket.send(datagram).is_ok());
                count += 1;
            }
        }
        sent.fetch_add(ok, Ordering::Relaxed);
    }
}

/// Receive-and-discard threads on one address: the most a receiver can do on this machine.
#[derive(Debug)]
pub struct RawSink {
    pub address: SocketAddr,
    pub received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl RawSink {
    /// `receivers` sockets (`SO_REUSEPORT`) on a free loopback port, a thread named `thread` each.
    pub fn start(receivers: usize, thread: &str) -> anyhow::Result<RawSink> {
        let first = raw_socket("127.0.0.1:0".parse()?)?;
        let address = first.local_addr()?.as_socket().context("the socket has no inet address")?;
        let mut sockets = vec![first];
        for _ in 1..receivers {
            sockets.push(raw_socket(address)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let threads = sockets
            .into_iter()
            .map(|socket| {
                let (stop, received) = (stop.clone(), received.clone());
                std::thread::Builder::new()
                    .name(thread.to_owned())
                    .spawn(move || raw_receive(&socket, &stop, &received))
            })
            .collect::<Result<_, _>>()?;
        Ok(RawSink { address, received, stop, threads })
    }

    pub fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().map_err(|_| anyhow::anyhow!("a raw receive thread panicked"))?;
        }
        Ok(self.received.load(Ordering::Relaxed))
    }
}

fn raw_socket(address: SocketAddr) -> anyhow::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    socket.set_recv_buffer_size(16 * 1024 * 1024)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

/// Counts datagrams with the same system calls and buffers as Fluoro's receive loop.
fn raw_receive(socket: &Socket, stop: &AtomicBool, received: &AtomicU64) {
    let mut buffers = vec![vec![0u8; RAW_BUFFER_BYTES]; RAW_BATCH];
    let mut headers = MultiHeaders::<()>::preallocate(RAW_BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        if let Ok(results) =
            recvmmsg(socket.as_raw_fd(), &mut headers, slices.iter_mut(), MsgFlags::MSG_WAITFORONE, None)
        {
            received.fetch_add(results.count() as u64, Ordering::Relaxed);
        }
    }
}
