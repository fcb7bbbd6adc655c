//! What the UDP behaviour tests share: segments and their datagrams, a receiver on a free
//! port, waiting on the counters, and a sink that can hold its first write.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_collector::{Counters, Ingest, MemorySink, UdpConfig, UdpReceiver};
use fluoro_proto::{SinkError, SpanBatch, SpanSink};
use parking_lot::Mutex;

pub(crate) const HEADER: &str = r#"{"format":"json","version":1}"#;
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

static NEXT_TRACE: AtomicU32 = AtomicU32::new(1);

/// A new trace id and a complete segment of it.
pub(crate) fn segment() -> (String, String) {
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let serial = NEXT_TRACE.fetch_add(1, Ordering::Relaxed);
    let trace_id = format!("1-{epoch:08x}-{serial:024x}");
    let start = epoch as f64;
    let document = format!(
        r#"{{"name":"checkout","id":"{serial:016x}","trace_id":"{trace_id}","start_time":{start},"end_time":{end},"http":{{"response":{{"status":200}}}}}}"#,
        end = start + 0.25
    );
    (trace_id, document)
}

pub(crate) fn datagram(document: &str) -> Vec<u8> {
    format!("{HEADER}\n{document}").into_bytes()
}

/// A receiver on a free loopback port with `config`'s other settings, writing to `sink`.
pub(crate) fn start(sink: Arc<dyn SpanSink>, config: UdpConfig) -> (UdpReceiver, Arc<Counters>) {
    let counters = Arc::new(Counters::new());
    let ingest = Ingest::new(sink, counters.clone());
    let receiver = UdpReceiver::start(UdpConfig { bind: "127.0.0.1:0".parse().unwrap(), ..config }, ingest).unwrap();
    (receiver, counters)
}

pub(crate) fn wait_until(what: &str, counters: &Counters, done: impl Fn(&Counters) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done(counters) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", counters.snapshot());
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn sender() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// A sink that keeps the name of the thread of each write; a gated one's first write says so
/// and waits until the test opens the gate.
pub(crate) struct GatedSink {
    inner: MemorySink,
    writers: Mutex<Vec<String>>,
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl GatedSink {
    pub(crate) fn open() -> Arc<Self> {
        Arc::new(GatedSink { inner: MemorySink::new(1_000_000), writers: Mutex::default(), gate: Mutex::default() })
    }

    /// The sink, what its first write sends once it waits, and what opens the gate.
    pub(crate) fn gated() -> (Arc<Self>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered, entered_rx) = mpsc::channel();
        let (open, open_rx) = mpsc::channel();
        let sink = GatedSink::open();
        *sink.gate.lock() = Some((entered, open_rx));
        (sink, entered_rx, open)
    }

    /// The thread names of the writes, in order.
    pub(crate) fn writers(&self) -> Vec<String> {
        self.writers.lock().clone()
    }
}

impl SpanSink for GatedSink {
    fn write(&self, batch: SpanBatch) -> Result<(), SinkError> {
        self.writers.lock().push(std::thread::current().name().unwrap_or_default().to_owned());
        let gate = self.gate.lock().take();
        if let Some((entered, open)) = gate {
            entered.send(()).unwrap();
            let _ = open.recv();
        }
        self.inner.write(batch)
    }
}
