//! The UDP receiver keeps every valid document while clients send garbage alongside, counts
//! every datagram exactly once under its reason, and counts overload (a full queue, then a full
//! socket buffer) as dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluoro_collector::{Counters, DropReason, MemorySink, RejectReason, Source, UdpConfig};
use fluoro_proto::{TraceId, TraceSource};

use crate::udp_harness::{datagram, segment, sender, start, wait_until, GatedSink, DEADLINE, HEADER};

/// The largest UDP payload IPv4 carries (65535 - 20 IP - 8 UDP header bytes).
const MAX_IPV4_UDP_PAYLOAD: usize = 65_507;
/// A valid segment whose datagram is exactly `size` bytes, padded with metadata.
fn padded_datagram(size: usize) -> (String, Vec<u8>) {
    let (trace_id, document) = segment();
    let without_pad = datagram(&document.replacen('{', r#"{"metadata":{"default":{"pad":""}},"#, 1));
    let pad = "x".repeat(size - without_pad.len());
    let document = document.replacen('{', &format!(r#"{{"metadata":{{"default":{{"pad":"{pad}"}}}},"#), 1);
    (trace_id, datagram(&document))
}

fn send_valid(socket: &UdpSocket, address: SocketAddr, count: usize, traces: &mut Vec<String>) {
    for _ in 0..count {
        let (trace_id, document) = segment();
        socket.send_to(&datagram(&document), address).unwrap();
        traces.push(trace_id);
    }
}

/// Datagrams whose fate is counted: `Ingest` counts a batch as received before writing it and
/// as accepted after, so `received` alone can run ahead of `accepted`.
fn settled(counters: &Counters) -> u64 {
    let rejected = [RejectReason::BadHeader, RejectReason::BadJson, RejectReason::Invalid, RejectReason::TooLarge];
    let dropped = [DropReason::Overload, DropReason::SinkError, DropReason::BufferFull, DropReason::Refused];
    counters.accepted(Source::Udp)
        + rejected.iter().map(|&reason| counters.rejected(Source::Udp, reason)).sum::<u64>()
        + dropped.iter().map(|&reason| counters.dropped(Source::Udp, reason)).sum::<u64>()
}

#[test]
fn valid_documents_survive_garbage_and_every_datagram_is_counted_once() {
    let sink = Arc::new(MemorySink::new(1_000_000));
    let (receiver, counters) = start(sink.clone(), UdpConfig { receivers: 2, ..UdpConfig::default() });
    let address = receiver.local_addr();
    assert_ne!(address.port(), 0);

    let background = std::thread::spawn(move || {
        let socket = sender();
        (0..300)
            .map(|_| {
                let (trace_id, document) = segment();
                socket.send_to(&datagram(&document), address).unwrap();
                trace_id
            })
            .collect::<Vec<_>>()
    });

    let socket = sender();
    let mut valid_traces = Vec::new();
    let (_, sample) = segment();
    let bad_header: Vec<Vec<u8>> = vec![
        b"\xff\x00\x13\x37 garbage without newline \xfe".to_vec(),
        b"\x00\x01\x02\n\x03\x04\x05".to_vec(),
        sample.clone().into_bytes(),
        format!("{{\"format\":\"xml\",\"version\":1}}\n{sample}").into_bytes(),
        format!("{{\"format\":\"json\",\"version\":2}}\n{sample}").into_bytes(),
        format!("{HEADER}\n").into_bytes(),
        Vec::new(),
    ];
    for garbage in &bad_header {
        send_valid(&socket, address, 3, &mut valid_traces);
        socket.send_to(garbage, address).unwrap();
    }
    send_valid(&socket, address, 3, &mut valid_traces);
    socket.send_to(&datagram(&sample[..sample.len() / 2]), address).unwrap();
    let bad_trace_id = sample.replacen("\"trace_id\":\"1-", "\"trace_id\":\"9-", 1);
    socket.send_to(&datagram(&bad_trace_id), address).unwrap();
    let (largest_trace, largest) = padded_datagram(MAX_IPV4_UDP_PAYLOAD);
    socket.send_to(&largest, address).unwrap();
    valid_traces.push(largest_trace);
    // A datagram over 64 KiB never leaves the sender over IPv4, so no body can reach ingest's
    // 64 KiB limit; the truncation path is covered by udp.rs's unit tests.
    let oversized = socket.send_to(&vec![b'x'; 70_000], address).unwrap_err();
    assert_eq!(oversized.raw_os_error(), Some(90), "EMSGSIZE: {oversized}");
    send_valid(&socket, address, 3, &mut valid_traces);
    valid_traces.extend(background.join().unwrap());

    let sent = valid_traces.len() as u64 + bad_header.len() as u64 + 2;
    wait_until("every datagram", &counters, |c| c.received(Source::Udp) == sent && settled(c) == sent);
    assert_eq!(counters.accepted(Source::Udp), valid_traces.len() as u64);
    assert_eq!(counters.rejected(Source::Udp, RejectReason::BadHeader), bad_header.len() as u64);
    assert_eq!(counters.rejected(Source::Udp, RejectReason::BadJson), 1);
    assert_eq!(counters.rejected(Source::Udp, RejectReason::Invalid), 1);
    assert_eq!(counters.rejected(Source::Udp, RejectReason::TooLarge), 0);
    assert_eq!(counters.dropped(Source::Udp, DropReason::Overload), 0);

    let ids: Vec<TraceId> = valid_traces.iter().map(|id| TraceId::parse_xray(id).unwrap()).collect();
    let stored = sink.traces(&ids);
    assert_eq!(stored.len(), ids.len());
    assert!(stored.iter().all(|trace| trace.rows.len() == 1 && trace.entities.len() == 1));

    let stopping = Instant::now();
    receiver.shutdown();
    assert!(stopping.elapsed() < Duration::from_secs(2), "shutdown took {:?}", stopping.elapsed());
}

#[test]
fn a_full_queue_leaves_drops_to_the_socket_and_counts_them_as_overload() {
    let (sink, entered_rx, open_tx) = GatedSink::gated();
    // The smallest socket buffer the kernel grants holds a few datagrams.
    let config =
        UdpConfig { receivers: 1, workers: 1, queue_datagrams: 8, socket_buffer_bytes: 1, ..UdpConfig::default() };
    let (receiver, counters) = start(sink, config);
    let address: SocketAddr = receiver.local_addr();
    let socket = sender();

    // The one worker takes the first datagram and blocks in the sink; the queue fills, the
    // receive thread stops reading, and the socket buffer overflows.
    socket.send_to(&datagram(&segment().1), address).unwrap();
    entered_rx.recv_timeout(DEADLINE).unwrap();
    let burst = 500;
    for _ in 0..burst {
        socket.send_to(&datagram(&segment().1), address).unwrap();
    }
    open_tx.send(()).unwrap();

    let sent = 1 + burst;
    wait_until("every datagram", &counters, |c| c.received(Source::Udp) == sent && settled(c) == sent);
    let dropped = counters.dropped(Source::Udp, DropReason::Overload);
    assert!(dropped > 0, "the socket never overflowed: {:?}", counters.snapshot());
    assert_eq!(counters.received(Source::Udp), sent);
    assert_eq!(counters.accepted(Source::Udp) + dropped, sent);
    receiver.shutdown();
}
