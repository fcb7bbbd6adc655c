//! The X-Ray daemon UDP protocol receiver (spec `xray.md` §2.1–2.2): what SDKs send to
//! `127.0.0.1:2000`.
//!
//! The protocol:
//! - One datagram is one document: a header line, a newline, the document.
//! - The header is a JSON object, accepted iff `format` is `"json"` (any case) and
//!   `version == 1`; SDKs send exactly `{"format":"json","version":1}`. The datagram is split at
//!   the FIRST `\n`; no newline, a bad header or an empty body is rejected as `bad_header`.
//! - The body is one X-Ray document (segment, subsegment or subsegment array), validated by
//!   [`Ingest`] like a `PutTraceSegments` element — or, in a sidecar, relayed unparsed to the
//!   central collector, which validates it (`forward.rs`).
//! - At most 64 KiB (65536 bytes) per datagram, the daemon's read buffer. Anything longer is
//!   rejected as `too_large` (the daemon truncates it into invalid JSON instead).
//!
//! Threads and queue, and why:
//!
//! ```text
//! socket ×receivers (SO_REUSEPORT) ── recvmmsg ──▶ receive thread ×receivers
//!     │  copy the batch into one buffer; when the queue is full, wait for room
//!     ▼
//! bounded queue (datagrams and bytes) ──▶ worker ×workers (the first always; the others
//!     while a backlog waits)
//!     header check, then per batch by UdpHandoff:
//!       Ingest   one Ingest::put_documents ──▶ SpanSink               (fluoro serve)
//!       Relay    raw documents ──▶ ForwardSink::relay (forward.rs)    (fluoro daemon)
//! ```
//!
//! - Under overload the receive threads stop reading until the queue has room, and the socket
//!   buffer overflows: the kernel drops what the workers cannot absorb for a fraction of the
//!   cost of reading it. Reading ~1M datagrams/s only to drop them took a whole core of a
//!   2-core machine from the workers (`BENCHMARKS.md`).
//! - Those kernel drops are still counted as `dropped(overload)`: `SO_RXQ_OVFL` makes the kernel
//!   attach the socket's cumulative drop count to every datagram read, and each receive thread
//!   counts its increase. A drop is therefore counted when the next datagram is read from the
//!   same socket; drops after the last datagram read before shutdown stay uncounted.
//! - `SO_REUSEPORT` lets the kernel spread datagrams over one socket per receive thread, and
//!   `recvmmsg` takes up to `batch` datagrams per system call.
//! - A batch of datagrams crosses the queue as one allocation (`Bytes` slices of one buffer),
//!   and reaches the sink as one `put_documents` call (or the relay as one `relay` call), so
//!   locks are taken per batch. The store keeps each document as its slice of that buffer, so
//!   a document is neither copied nor allocated on its own until it is flushed to a block
//!   ([`worker::document_bodies`] says when it is copied out all the same).
//! - Paced senders deliver a datagram or two per wake-up, and every wake-up, write and log
//!   record has a fixed cost. So a receive thread that drained its socket sleeps 1 ms before
//!   the next call (only when the kernel granted a buffer of ≥ 4 MiB, which holds that long at
//!   any rate), and a worker waits up to 2 ms for more batches to join the first before it
//!   writes: at 20k documents/s, 15 % less CPU per document for a few milliseconds more
//!   latency (`BENCHMARKS.md`).
//! - Every datagram is counted as received exactly once: by [`Ingest`] or the relay
//!   (`ForwardSink::relay`) when its body reaches it, here when it is rejected for its header or
//!   size or dropped for overload (by the kernel, or here when a shutdown finds it still waiting
//!   for room). A datagram in the queue is not counted yet.
//!
//! Bounds: the receive buffers are `receivers × batch × 64 KiB` (2 MiB with the defaults on two
//! cores); the queue holds at most `queue_datagrams` datagrams and `queue_bytes` bytes, counting
//! the batches workers are parsing until they are written; each socket buffer holds at most
//! `socket_buffer_bytes` (as the kernel grants it). Receive threads notice a shutdown within
//! [`RECEIVE_TIMEOUT`], reading or waiting for room; workers write what is queued before they
//! stop.
//!
//! `SO_REUSEPORT` also means a second process of the same user that sets it can share the
//! port and take part of the traffic; the X-Ray daemon does not set it, so it conflicts loudly.

mod budget;
mod drops;
mod worker;

use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders};
use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};

use crate::counters::{Counters, DropReason, RejectReason, Source};
use crate::error::CollectorError;
use crate::forward::ForwardSink;
use crate::ingest::Ingest;
use budget::QueueBudget;
use drops::{proc_socket_drops, SocketDrops};
use fluoro_proto::Durability;
use worker::ParseWorker;

/// The daemon's listen address.
const DEFAULT_BIND: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 2000);
const DEFAULT_QUEUE_DATAGRAMS: usize = 16_384;
const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_WORKERS: usize = 2;
/// One receive thread drains ~450k datagrams/s on a 2-core VM, ~30× what a parse worker
/// handles (`benches/src/bin/udp_ingest.rs`), so a second one only takes CPU from the workers:
/// on 2 cores, 1 receiver accepted ~17k documents/s at full load against ~14k with 2.
const CORES_PER_RECEIVER: usize = 4;
const DEFAULT_BATCH: usize = 32;
/// The kernel caps one `recvmmsg` call at `UIO_MAXIOV` messages.
const MAX_BATCH: usize = 1024;
/// The longest datagram accepted: the daemon's 64 KiB read buffer.
const MAX_DATAGRAM_BYTES: usize = 64 * 1024;
/// One byte more than accepted, so a longer datagram shows as filling the buffer even where the
/// kernel does not report `MSG_TRUNC`.
const RECEIVE_BUFFER_BYTES: usize = MAX_DATAGRAM_BYTES + 1;
/// Asked of the kernel per socket; it grants at most `net.core.rmem_max` (doubled).
const DEFAULT_SOCKET_BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// How long a receive thread lets the socket fill after draining it, so that the next call
/// takes several datagrams instead of waking for each…
const RECEIVE_LINGER: Duration = Duration::from_millis(1);
/// …if the kernel granted the socket this much buffer: over a thousand datagrams of a few KiB,
/// more than arrive in a linger at any rate a receive thread keeps up with. The kernel's
/// default ceiling (`net.core.rmem_max`, ~208 KiB) grants far less, and there a burst arriving
/// during a linger would be dropped: no linger.
const MIN_LINGER_SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// How long a receive thread may take to notice a shutdown.
const RECEIVE_TIMEOUT: Duration = Duration::from_millis(100);
/// Queued batches a worker joins into one `put_documents` call. Larger writes cost more per
/// document, not less: 512 documents in flight took 15 CPU µs each against 9 for 32
/// (`ingest_parse --batch`), their entities and rows no longer fitting the caches.
const MAX_DOCUMENTS_PER_WRITE: usize = 64;
/// How long a worker waits for more batches to join the first before it writes. Paced senders
/// arrive a datagram or two at a time, and each write has a fixed cost (the store's lock, a
/// write-ahead log record, waking the log's thread) that a lone document pays alone; fire-and-
/// forget UDP can wait this long, and a full write does not wait.
const WRITE_LINGER: Duration = Duration::from_millis(2);
/// Datagrams queued or being parsed from which the workers after the first take batches too.
/// One worker keeps up with paced load alone, and every worker that waits on the queue beside
/// it is woken for batches it could have left to the first: at 20k documents/s, two workers
/// switched ~1,570 times a second against ~1,030 for one (`BENCHMARKS.md`). Four writes'
/// worth is a few milliseconds of the first worker's work; half the queue when that is smaller.
const STANDBY_BACKLOG: usize = 4 * MAX_DOCUMENTS_PER_WRITE;
/// The header every SDK sends, checked before falling back to JSON parsing.
const CANONICAL_HEADER: &[u8] = br#"{"format":"json","version":1}"#;

/// Settings of the UDP receiver.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Default `127.0.0.1:2000`. Port 0 picks a free port, see [`UdpReceiver::local_addr`].
    pub bind: SocketAddr,
    /// Sockets and receive threads. Default: one per 4 cores, at least 1.
    pub receivers: usize,
    /// Datagrams waiting for a worker, at most. Default 16384.
    pub queue_datagrams: usize,
    /// Bytes of datagrams waiting for a worker, at most. Default 64 MiB.
    pub queue_bytes: usize,
    /// Parse worker threads, at least 1. Default 2. The first takes every batch while it keeps
    /// up; the others join while [`STANDBY_BACKLOG`] datagrams wait.
    pub workers: usize,
    /// Datagrams per `recvmmsg` call, 1 to 1024. Default 32.
    pub batch: usize,
    /// Receive buffer asked of the kernel per socket (`SO_RCVBUF`), which bounds bursts absorbed
    /// while the queue is full. Default 16 MiB; the kernel grants at most `net.core.rmem_max`.
    pub socket_buffer_bytes: usize,
    /// Run first by each receive and parse thread: the server moves them into the allocator
    /// arena of its ingest threads (`fluoro_store::allocator::use_ingest_arena`). Default none.
    pub thread_start: Option<fn()>,
}

impl Default for UdpConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        UdpConfig {
            bind: DEFAULT_BIND,
            receivers: (cores / CORES_PER_RECEIVER).max(1),
            queue_datagrams: DEFAULT_QUEUE_DATAGRAMS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            workers: DEFAULT_WORKERS,
            batch: DEFAULT_BATCH,
            socket_buffer_bytes: DEFAULT_SOCKET_BUFFER_BYTES,
            thread_start: None,
        }
    }
}

impl UdpConfig {
    fn validate(&self) -> Result<(), CollectorError> {
        let problem = if self.receivers == 0 {
            "udp receivers must be at least 1"
        } else if self.workers == 0 {
            "udp workers must be at least 1"
        } else if self.queue_datagrams == 0 || self.queue_bytes < MAX_DATAGRAM_BYTES {
            "udp queue must hold at least one datagram of 64 KiB"
        } else if !(1..=MAX_BATCH).contains(&self.batch) {
            "udp batch must be between 1 and 1024"
        } else {
            return Ok(());
        };
        Err(CollectorError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, problem)))
    }
}

/// What the workers do with the documents of datagrams whose header passed. The receive side
/// (sockets, queue, header check, counting) is the same for both.
#[derive(Debug, Clone)]
pub enum UdpHandoff {
    /// Parse, validate and write rows: the server.
    Ingest(Ingest),
    /// Keep the raw documents for forwarding, unparsed: the sidecar daemon (`forward.rs`).
    Relay(ForwardSink),
}

impl UdpHandoff {
    fn counters(&self) -> &Arc<Counters> {
        match self {
            UdpHandoff::Ingest(ingest) => ingest.counters(),
            UdpHandoff::Relay(forward) => forward.counters(),
        }
    }

    fn hand_off(&self, documents: Vec<Bytes>) {
        match self {
            // Refused documents and sink failures are counted (and logged) by `Ingest`; a UDP
            // sender gets no answer to give them to.
            UdpHandoff::Ingest(ingest) => {
                // The bodies are slices of their batch's receive buffer, which lives on as
                // long as the store keeps one of them.
                let _ = ingest.put_documents(Source::Udp, documents, Durability::BestEffort);
            }
            UdpHandoff::Relay(forward) => forward.relay(Source::Udp, documents),
        }
    }
}

impl From<Ingest> for UdpHandoff {
    fn from(ingest: Ingest) -> Self {
        UdpHandoff::Ingest(ingest)
    }
}

/// A running UDP receiver; stops its threads on [`UdpReceiver::shutdown`] or drop.
#[derive(Debug)]
pub struct UdpReceiver {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    receive_threads: Vec<JoinHandle<()>>,
    worker_threads: Vec<JoinHandle<()>>,
}

impl UdpReceiver {
    /// Binds every socket, then starts the threads. Fails when a socket cannot be bound.
    pub fn start(config: UdpConfig, handoff: impl Into<UdpHandoff>) -> Result<UdpReceiver, CollectorError> {
        let handoff = handoff.into();
        config.validate()?;
        let sockets = bind_sockets(&config)?;
        let local_addr = sockets[0].local_addr()?.as_socket().unwrap_or(config.bind);
        // A queue configured smaller than the backlog still lets the standby workers in.
        let standby_from = STANDBY_BACKLOG.min(config.queue_datagrams / 2).max(1);
        let budget = Arc::new(QueueBudget::new(config.queue_datagrams, config.queue_bytes, standby_from));
        // Each batch holds at least one datagram, so the channel is never the tighter bound.
        let (sender, receiver) = mpsc::sync_channel(config.queue_datagrams);
        let receiver = Arc::new(Mutex::new(receiver));
        let stop = Arc::new(AtomicBool::new(false));
        let mut started =
            UdpReceiver { local_addr, stop: stop.clone(), receive_threads: Vec::new(), worker_threads: Vec::new() };
        for index in 0..config.workers {
            let worker = ParseWorker {
                queue: receiver.clone(),
                budget: budget.clone(),
                handoff: handoff.clone(),
                standby: index > 0,
            };
            let thread = spawn(format!("fluoro-udp-parse-{index}"), config.thread_start, move || worker.run())?;
            started.worker_threads.push(thread);
        }
        for (index, socket) in sockets.into_iter().enumerate() {
            let linger = socket.recv_buffer_size().is_ok_and(|granted| granted >= MIN_LINGER_SOCKET_BUFFER_BYTES);
            let receive = ReceiveLoop {
                socket,
                batch: config.batch,
                linger,
                queue: sender.clone(),
                budget: budget.clone(),
                counters: handoff.counters().clone(),
                stop: stop.clone(),
            };
            let thread = spawn(format!("fluoro-udp-recv-{index}"), config.thread_start, move || receive.run())?;
            started.receive_threads.push(thread);
        }
        tracing::info!(address = %local_addr, receivers = config.receivers, workers = config.workers, "listening for x-ray udp");
        Ok(started)
    }

    /// The address bound, with the port the kernel chose when asked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops receiving, writes what is queued, and joins every thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Receive threads hold the queue's senders; once they are gone the workers drain the
        // queue and see it closed.
        for thread in self.receive_threads.drain(..).chain(self.worker_threads.drain(..)) {
            if thread.join().is_err() {
                tracing::error!("a udp receiver thread panicked");
            }
        }
    }
}

impl Drop for UdpReceiver {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn spawn(
    name: String,
    start: Option<fn()>,
    run: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, CollectorError> {
    Ok(std::thread::Builder::new().name(name).spawn(move || {
        start.inspect(|start| start());
        run()
    })?)
}

/// Binds the first socket to the configured address, then the others to the address it got,
/// so port 0 gives every socket the same port.
fn bind_sockets(config: &UdpConfig) -> Result<Vec<Socket>, CollectorError> {
    let first = bind_socket(config.bind, config.socket_buffer_bytes)?;
    let resolved = first.local_addr()?.as_socket().unwrap_or(config.bind);
    let mut sockets = vec![first];
    for _ in 1..config.receivers {
        sockets.push(bind_socket(resolved, config.socket_buffer_bytes)?);
    }
    Ok(sockets)
}

fn bind_socket(address: SocketAddr, buffer_bytes: usize) -> Result<Socket, CollectorError> {
    let bind_error = |source| CollectorError::Bind { address: address.to_string(), source };
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP)).map_err(bind_error)?;
    socket.set_reuse_port(true).map_err(bind_error)?;
    socket.set_read_timeout(Some(RECEIVE_TIMEOUT)).map_err(bind_error)?;
    // Without the kernel's drop count, overload would be lost silently in the socket buffer.
    setsockopt(&socket, sockopt::RxqOvfl, &1).map_err(|errno| bind_error(errno.into()))?;
    // Best effort: a small buffer only means earlier kernel drops under bursts.
    if let Err(error) = socket.set_recv_buffer_size(buffer_bytes) {
        tracing::warn!(error = %error, "cannot set the udp receive buffer size");
    }
    socket.bind(&address.into()).map_err(bind_error)?;
    Ok(socket)
}

/// Datagrams from one `recvmmsg` call, slices of one buffer.
type DatagramBatch = Vec<Bytes>;

/// What one received datagram is, before any parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// Fits the 64 KiB limit; goes to the queue.
    Datagram { length: usize },
    /// Longer than 64 KiB: the kernel truncated it, or it filled the extra byte of the buffer.
    TooLarge,
}

impl Arrival {
    fn of(length: usize, flags: MsgFlags) -> Arrival {
        if flags.contains(MsgFlags::MSG_TRUNC) || length > MAX_DATAGRAM_BYTES {
            Arrival::TooLarge
        } else {
            Arrival::Datagram { length }
        }
    }
}

struct ReceiveLoop {
    socket: Socket,
    batch: usize,
    /// Sleep [`RECEIVE_LINGER`] after a call that drained the socket.
    linger: bool,
    queue: SyncSender<DatagramBatch>,
    budget: Arc<QueueBudget>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl ReceiveLoop {
    fn run(self) {
        let mut buffers = vec![vec![0u8; RECEIVE_BUFFER_BYTES]; self.batch];
        let mut received = Received::with_capacity(self.batch);
        let mut drops = SocketDrops::default();
        while !self.stop.load(Ordering::Relaxed) {
            match receive_batch(&self.socket, &mut buffers, &mut received) {
                Ok(()) => {
                    self.drop_overload(drops.newly_counted(received.socket_drops));
                    self.enqueue(&buffers, &received.arrivals, &mut drops);
                    if self.linger && received.arrivals.len() < self.batch {
                        std::thread::sleep(RECEIVE_LINGER);
                    }
                }
                // Idle: drops after the last datagram read are only seen in /proc.
                Err(Errno::EAGAIN | Errno::EINTR) => self.count_proc_drops(&mut drops),
                Err(error) => {
                    tracing::warn!(error = %error, "udp receive failed");
                    std::thread::sleep(RECEIVE_TIMEOUT);
                }
            }
        }
        self.count_proc_drops(&mut drops);
    }

    fn count_proc_drops(&self, drops: &mut SocketDrops) {
        self.drop_overload(drops.newly_counted(proc_socket_drops(&self.socket)));
    }

    /// Queues the datagrams of one receive, waiting for room as long as it takes: meanwhile the
    /// socket buffer absorbs what it can and the kernel drops the rest.
    fn enqueue(&self, buffers: &[Vec<u8>], arrivals: &[Arrival], drops: &mut SocketDrops) {
        let mut too_large = 0;
        let mut fitting = Vec::with_capacity(arrivals.len());
        for (buffer, arrival) in buffers.iter().zip(arrivals) {
            match *arrival {
                Arrival::Datagram { length } => fitting.push(&buffer[..length]),
                Arrival::TooLarge => too_large += 1,
            }
        }
        if too_large > 0 {
            self.counters.add_received(Source::Udp, too_large);
            self.counters.add_rejected(Source::Udp, RejectReason::TooLarge, too_large);
        }
        let lengths: Vec<usize> = fitting.iter().map(|datagram| datagram.len()).collect();
        let mut start = 0;
        while start < fitting.len() {
            let admitted = self.budget.admit_or_wait(&lengths[start..]);
            if admitted == 0 && self.stop.load(Ordering::Relaxed) {
                // Shutting down with no room: what this thread holds is lost, and counted.
                self.drop_overload((fitting.len() - start) as u64);
                return;
            }
            if admitted == 0 {
                self.count_proc_drops(drops);
                continue;
            }
            self.send(copy_batch(&fitting[start..start + admitted]));
            start += admitted;
        }
    }

    fn send(&self, batch: DatagramBatch) {
        if let Err(error) = self.queue.try_send(batch) {
            // Unreachable while the budget is the tighter bound and a worker is alive; counted
            // rather than lost if that ever changes.
            let batch = match error {
                TrySendError::Full(batch) | TrySendError::Disconnected(batch) => batch,
            };
            self.budget.release(batch.len(), batch.iter().map(Bytes::len).sum());
            self.drop_overload(batch.len() as u64);
        }
    }

    fn drop_overload(&self, count: u64) {
        if count > 0 {
            self.counters.add_received(Source::Udp, count);
            self.counters.add_dropped(Source::Udp, DropReason::Overload, count);
        }
    }
}

/// What one `recvmmsg` call returned.
#[derive(Debug, Default)]
struct Received {
    arrivals: Vec<Arrival>,
    /// The socket's cumulative drop count (`SO_RXQ_OVFL`) as of the last datagram that carried
    /// one; the kernel leaves it out while the count is 0.
    socket_drops: Option<u32>,
}

impl Received {
    fn with_capacity(batch: usize) -> Self {
        Received { arrivals: Vec::with_capacity(batch), socket_drops: None }
    }
}

/// Waits up to the socket timeout for one datagram, then takes whatever else is ready, one
/// datagram per buffer.
fn receive_batch(socket: &Socket, buffers: &mut [Vec<u8>], received: &mut Received) -> Result<(), Errno> {
    received.arrivals.clear();
    received.socket_drops = None;
    // Fresh headers per call: the kernel shrinks each header's control length to what it wrote
    // (0 for a datagram without drops), and nix does not restore it, so reused headers would
    // lose the drop count of later datagrams.
    let mut headers = MultiHeaders::<()>::preallocate(buffers.len(), Some(nix::cmsg_space!(u32)));
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers.iter_mut().map(|buffer| [IoSliceMut::new(buffer)]).collect();
    let results = recvmmsg(socket.as_raw_fd(), &mut headers, slices.iter_mut(), MsgFlags::MSG_WAITFORONE, None)?;
    for message in results {
        received.arrivals.push(Arrival::of(message.bytes, message.flags));
        let drop_counts = message.cmsgs().into_iter().flatten().filter_map(|cmsg| match cmsg {
            ControlMessageOwned::RxqOvfl(count) => Some(count),
            _ => None,
        });
        if let Some(count) = drop_counts.last() {
            received.socket_drops = Some(count);
        }
    }
    Ok(())
}

/// One allocation for the bytes of the whole batch, sliced per datagram.
fn copy_batch(datagrams: &[&[u8]]) -> DatagramBatch {
    let mut data = BytesMut::with_capacity(datagrams.iter().map(|datagram| datagram.len()).sum());
    for datagram in datagrams {
        data.extend_from_slice(datagram);
    }
    let data = data.freeze();
    let mut start = 0;
    datagrams
        .iter()
        .map(|datagram| {
            let slice = data.slice(start..start + datagram.len());
            start += datagram.len();
            slice
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::worker::{document_bodies, document_body};
    use super::*;

    #[test]
    fn header_is_checked_up_to_the_first_newline() {
        assert_eq!(document_body(b"{\"format\":\"json\",\"version\":1}\n{\"a\":1}\n"), Some(&b"{\"a\":1}\n"[..]));
        assert_eq!(document_body(b"{ \"version\": 1, \"format\": \"JSON\", \"x\": [] }\n{}"), Some(&b"{}"[..]));
        assert_eq!(document_body(b"{\"format\":\"json\",\"version\":1}\n"), None, "empty body");
        assert_eq!(document_body(b"{\"format\":\"json\",\"version\":1}"), None, "no newline");
        assert_eq!(document_body(b"{\"format\":\"xml\",\"version\":1}\n{}"), None);
        assert_eq!(document_body(b"{\"format\":\"json\",\"version\":2}\n{}"), None);
        assert_eq!(document_body(b"{\"format\":\"json\",\"version\":\"1\"}\n{}"), None);
        assert_eq!(document_body(b"{\"format\":\"json\"}\n{}"), None);
        assert_eq!(document_body(b"[1]\n{}"), None);
        assert_eq!(document_body(b"\xff\xfe\n{}"), None);
        assert_eq!(document_body(b"\n{}"), None);
    }

    #[test]
    fn documents_share_their_buffer_only_when_it_holds_nothing_else() {
        let shares = |batch: &[&[u8]]| {
            let buffer = copy_batch(batch);
            let within = buffer.first().map(|first| first.as_ptr() as usize).unwrap_or_default()
                ..buffer.last().map(|last| last.as_ptr() as usize + last.len()).unwrap_or_default();
            let (documents, bad_headers) = document_bodies(&buffer);
            let shared: Vec<bool> =
                documents.iter().map(|document| within.contains(&(document.as_ptr() as usize))).collect();
            (shared, bad_headers)
        };
        let sdk: &[u8] = b"{\"format\":\"json\",\"version\":1}\n{\"a\":1}";
        assert_eq!(shares(&[sdk, sdk]), (vec![true, true], 0));
        let bad: &[u8] = b"{\"format\":\"xml\",\"version\":1}\n{\"a\":1}";
        assert_eq!(shares(&[sdk, bad, sdk]), (vec![false, false], 1), "the bad datagram's bytes would stay held");
        let padded: &[u8] = b"{\"format\":\"json\",\"version\":1,\"padding\":\"xxxxxxxxxxxxxxxx\"}\n{\"a\":1}";
        assert_eq!(shares(&[sdk, padded]), (vec![false, false], 0), "the long header would stay held");
    }

    /// Fuzzing on stable Rust: the header check of arbitrary datagrams, and of real ones with a
    /// byte changed, cut or spliced, never panics and splits at the first newline only.
    /// `FLUORO_FUZZ_CASES` sets the cases (docs/operations.md, "Fuzzing the parsers").
    mod datagram_header_never_panics {
        use super::*;
        use proptest::prelude::*;

        fn fuzz_config() -> ProptestConfig {
            let cases = std::env::var("FLUORO_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(256);
            ProptestConfig { cases, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() }
        }

        const VALID: &[&[u8]] = &[
            b"{\"format\":\"json\",\"version\":1}\n{\"trace_id\":\"1-6750a0a0-0123456789abcdef01234567\",\"id\":\"2a4b5c6d7e8f9012\"}",
            b"{ \"version\": 1, \"format\": \"JSON\", \"extra\": [1, {\"a\": null}] }\n{}",
            b"{\"format\":\"json\",\"version\":1}\n\n",
        ];

        fn mutated_datagram() -> impl Strategy<Value = Vec<u8>> {
            const FRAGMENTS: &[&str] = &["\n", "{", "}", "\"", ",", ":", "1", "1.0", "1e999", "-1", "\\u0000", "null"];
            (
                proptest::sample::select(VALID),
                any::<prop::sample::Index>(),
                0..64usize,
                0..3usize,
                any::<u8>(),
                proptest::sample::select(FRAGMENTS),
            )
                .prop_map(|(datagram, at, length, how, byte, fragment)| {
                    let mut bytes = datagram.to_vec();
                    let at = at.index(bytes.len());
                    match how {
                        0 => bytes[at] = byte,
                        1 => drop(bytes.drain(at..(at + length).min(bytes.len()))),
                        _ => {
                            drop(bytes.splice(at..at, fragment.bytes().cycle().take(fragment.len() * (1 + length % 4))))
                        }
                    }
                    bytes
                })
        }

        /// Checks `document_body` against the rule: the bytes after the first newline when the
        /// header before it is a JSON object with `format` "json" (any case) and `version` 1.
        /// A header that `serde_json::Value` cannot hold (a number past f64 in a field the check
        /// ignores) may go either way, but only the bytes after the first newline are ever given.
        fn check(datagram: &[u8]) -> Result<(), TestCaseError> {
            let found = document_body(datagram);
            let Some(newline) = datagram.iter().position(|&byte| byte == b'\n') else {
                prop_assert_eq!(found, None);
                return Ok(());
            };
            let body = &datagram[newline + 1..];
            let Ok(header) = serde_json::from_slice::<serde_json::Value>(&datagram[..newline]) else {
                prop_assert!(found.is_none() || found == Some(body));
                return Ok(());
            };
            let format_is_json = header
                .get("format")
                .and_then(|format| format.as_str())
                .is_some_and(|format| format.eq_ignore_ascii_case("json"));
            let version_is_1 = header.get("version").and_then(|version| version.as_u64()) == Some(1);
            let expected = (format_is_json && version_is_1 && !body.is_empty()).then_some(body);
            prop_assert_eq!(found, expected);
            Ok(())
        }

        proptest! {
            #![proptest_config(fuzz_config())]

            #[test]
            fn arbitrary_datagrams(datagram in proptest::collection::vec(any::<u8>(), 0..256)) {
                check(&datagram)?;
            }

            #[test]
            fn mutated_datagrams(datagram in mutated_datagram()) {
                check(&datagram)?;
            }
        }
    }

    #[test]
    fn datagrams_over_64_kib_are_too_large_even_without_msg_trunc() {
        assert_eq!(Arrival::of(65_536, MsgFlags::empty()), Arrival::Datagram { length: 65_536 });
        assert_eq!(Arrival::of(65_537, MsgFlags::empty()), Arrival::TooLarge);
        assert_eq!(Arrival::of(100, MsgFlags::MSG_TRUNC), Arrival::TooLarge);
        assert_eq!(Arrival::of(0, MsgFlags::empty()), Arrival::Datagram { length: 0 });
    }

    #[test]
    fn a_datagram_longer_than_its_buffer_is_seen_as_truncated() {
        // Loopback cannot carry a datagram over 64 KiB, so a smaller buffer stands in for the
        // 64 KiB + 1 one to check that the kernel's MSG_TRUNC reaches `Arrival`.
        let socket = bind_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), DEFAULT_SOCKET_BUFFER_BYTES).unwrap();
        let address = socket.local_addr().unwrap().as_socket().unwrap();
        let sender = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sender.send_to(&[b'a'; 50], address).unwrap();
        sender.send_to(&[b'b'; 150], address).unwrap();
        let mut buffers = vec![vec![0u8; 100]; 4];
        let mut arrivals = Vec::new();
        while arrivals.len() < 2 {
            let mut received = Received::default();
            receive_batch(&socket, &mut buffers, &mut received).unwrap();
            arrivals.extend(received.arrivals);
        }
        assert_eq!(arrivals, vec![Arrival::Datagram { length: 50 }, Arrival::TooLarge]);
    }

    #[test]
    fn datagrams_read_after_an_overflow_carry_the_sockets_drop_count() {
        // The smallest buffer the kernel grants holds a few of these datagrams.
        let socket = bind_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 1).unwrap();
        let address = socket.local_addr().unwrap().as_socket().unwrap();
        let sender = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let sent = 200;
        for _ in 0..sent {
            sender.send_to(&[b'a'; 1000], address).unwrap();
        }
        let mut buffers = vec![vec![0u8; RECEIVE_BUFFER_BYTES]; 8];
        let (mut read, mut dropped, mut drops) = (0, 0, SocketDrops::default());
        let mut read_all = |read: &mut u64, dropped: &mut u64| {
            let mut received = Received::default();
            while receive_batch(&socket, &mut buffers, &mut received) != Err(Errno::EAGAIN) {
                *read += received.arrivals.len() as u64;
                *dropped += drops.newly_counted(received.socket_drops);
            }
        };
        read_all(&mut read, &mut dropped);
        // The datagrams queued before the drops do not know of them; one sent after does.
        sender.send_to(b"after", address).unwrap();
        read_all(&mut read, &mut dropped);
        assert!(dropped > 0, "the socket buffer did not overflow");
        assert_eq!(read + dropped, sent + 1);
        assert_eq!(drops.newly_counted(proc_socket_drops(&socket)), 0, "/proc agrees, nothing left to count");
    }

    #[test]
    fn a_batch_is_sliced_from_one_buffer() {
        let batch = copy_batch(&[b"ab", b"", b"cde"]);
        assert_eq!(batch, vec![Bytes::from_static(b"ab"), Bytes::new(), Bytes::from_static(b"cde")]);
    }
}
