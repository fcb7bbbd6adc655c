//! The first UDP parse worker takes every batch while it keeps up; the others join only while
//! a backlog waits, so paced load does not wake them.

use std::net::UdpSocket;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_collector::{Counters, Ingest, MemorySink, Source, UdpConfig, UdpReceiver};
use fluoro_proto::{SinkError, SpanBatch, SpanSink};
use parking_lot::Mutex;

const DEADLINE: Duration = Duration::from_secs(10);

/// Keeps each write's thread name; the first write waits for `gate` when one is set.
struct WritersSink {
    inner: MemorySink,
    writers: Mutex<Vec<String>>,
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl SpanSink for WritersSink {
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

fn datagram(serial: usize) -> Vec<u8> {
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    format!(
        "{{\"format\":\"json\",\"version\":1}}\n{{\"name\":\"web\",\"id\":\"{serial:016x}\",\"trace_id\":\"1-{epoch:08x}-{serial:024x}\",\"start_time\":{epoch},\"end_time\":{epoch}.5}}"
    )
    .into_bytes()
}

fn start(sink: Arc<WritersSink>) -> (UdpReceiver, Arc<Counters>) {
    let counters = Arc::new(Counters::new());
    let ingest = Ingest::new(sink, counters.clone());
    let config = UdpConfig { bind: "127.0.0.1:0".parse().unwrap(), receivers: 1, workers: 2, ..UdpConfig::default() };
    (UdpReceiver::start(config, ingest).unwrap(), counters)
}

fn wait_for_accepted(counters: &Counters, count: u64) {
    let deadline = Instant::now() + DEADLINE;
    while counters.accepted(Source::Udp) < count {
        assert!(Instant::now() < deadline, "timed out: {:?}", counters.snapshot());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn paced_datagrams_are_parsed_by_the_first_worker() {
    let sink =
        Arc::new(WritersSink { inner: MemorySink::new(100_000), writers: Mutex::default(), gate: Mutex::default() });
    let (receiver, counters) = start(sink.clone());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 60;
    for serial in 1..=sent {
        socket.send_to(&datagram(serial), receiver.local_addr()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_for_accepted(&counters, sent as u64);
    receiver.shutdown();
    let writers = sink.writers.lock();
    let by_first = writers.iter().filter(|name| name.as_str() == "fluoro-udp-parse-0").count();
    // Two workers waiting on the queue alike took about half each. The second may still take a
    // batch when it looks whether the queue has closed while the first is writing.
    assert!(by_first * 10 >= writers.len() * 9, "{by_first} of {} writes by the first worker", writers.len());
}

#[test]
fn the_second_worker_joins_while_a_backlog_waits() {
    let (entered, entered_rx) = mpsc::channel();
    let (open, open_rx) = mpsc::channel();
    let sink = Arc::new(WritersSink {
        inner: MemorySink::new(100_000),
        writers: Mutex::default(),
        gate: Mutex::new(Some((entered, open_rx))),
    });
    let (receiver, counters) = start(sink.clone());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(&datagram(1), receiver.local_addr()).unwrap();
    entered_rx.recv_timeout(DEADLINE).unwrap();
    // The first worker is stuck in the sink; a backlog builds behind it.
    let backlog = 400;
    for serial in 2..=backlog + 1 {
        socket.send_to(&datagram(serial), receiver.local_addr()).unwrap();
    }
    wait_for_accepted(&counters, backlog as u64);
    assert!(sink.writers.lock().iter().skip(1).all(|name| name == "fluoro-udp-parse-1"));
    open.send(()).unwrap();
    wait_for_accepted(&counters, backlog as u64 + 1);
    receiver.shutdown();
}
