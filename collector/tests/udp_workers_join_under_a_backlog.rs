//! The first UDP parse worker takes every batch while it keeps up; the others join only while
//! a backlog waits, so paced load does not wake them.

use std::time::Duration;

use fluoro_collector::{Source, UdpConfig};

use crate::udp_harness::{datagram, segment, sender, start, wait_until, GatedSink, DEADLINE};

fn two_workers() -> UdpConfig {
    UdpConfig { receivers: 1, workers: 2, ..UdpConfig::default() }
}

#[test]
fn paced_datagrams_are_parsed_by_the_first_worker() {
    let sink = GatedSink::open();
    let (receiver, counters) = start(sink.clone(), two_workers());
    let socket = sender();
    let sent = 60;
    for _ in 0..sent {
        socket.send_to(&datagram(&segment().1), receiver.local_addr()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_until("every datagram", &counters, |c| c.accepted(Source::Udp) == sent);
    receiver.shutdown();
    let writers = sink.writers();
    let by_first = writers.iter().filter(|name| name.as_str() == "fluoro-udp-parse-0").count();
    // Two workers waiting on the queue alike took about half each. The second may still take a
    // batch when it looks whether the queue has closed while the first is writing.
    assert!(by_first * 10 >= writers.len() * 9, "{by_first} of {} writes by the first worker", writers.len());
}

#[test]
fn the_second_worker_joins_while_a_backlog_waits() {
    let (sink, entered, open) = GatedSink::gated();
    let (receiver, counters) = start(sink.clone(), two_workers());
    let socket = sender();
    socket.send_to(&datagram(&segment().1), receiver.local_addr()).unwrap();
    entered.recv_timeout(DEADLINE).unwrap();
    // The first worker is stuck in the sink; a backlog builds behind it.
    let backlog = 400;
    for _ in 0..backlog {
        socket.send_to(&datagram(&segment().1), receiver.local_addr()).unwrap();
    }
    wait_until("the backlog", &counters, |c| c.accepted(Source::Udp) == backlog);
    assert!(sink.writers().iter().skip(1).all(|name| name == "fluoro-udp-parse-1"));
    open.send(()).unwrap();
    wait_until("every datagram", &counters, |c| c.accepted(Source::Udp) == backlog + 1);
    receiver.shutdown();
}
