//! The parse worker: takes batches of datagrams off the queue, checks their header lines and
//! hands the documents over (`UdpHandoff`); the first worker always, the others on standby
//! while a backlog waits.

use std::borrow::Cow;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Deserialize;

use super::budget::QueueBudget;
use super::{DatagramBatch, UdpHandoff, CANONICAL_HEADER, MAX_DOCUMENTS_PER_WRITE, WRITE_LINGER};
use crate::counters::{RejectReason, Source};

pub(super) struct ParseWorker {
    pub(super) queue: Arc<Mutex<Receiver<DatagramBatch>>>,
    pub(super) budget: Arc<QueueBudget>,
    pub(super) handoff: UdpHandoff,
    /// Every worker but the first: takes batches only while a backlog waits
    /// ([`super::STANDBY_BACKLOG`]).
    pub(super) standby: bool,
}

impl ParseWorker {
    pub(super) fn run(self) {
        while let Some(datagrams) = self.next_batch() {
            self.write(&datagrams);
            self.budget.release(datagrams.len(), datagrams.iter().map(Bytes::len).sum());
        }
    }

    /// The next batch to write; `None` once the receive threads are gone and the queue is empty.
    fn next_batch(&self) -> Option<Vec<Bytes>> {
        if !self.standby {
            return self.take();
        }
        loop {
            if self.budget.wait_for_backlog() {
                return self.take();
            }
            // No backlog within the wait: look only whether the queue has closed, without
            // waiting for the lock the first worker holds.
            let Some(queue) = self.queue.try_lock() else { continue };
            match queue.try_recv() {
                Ok(datagrams) => return Some(datagrams),
                Err(TryRecvError::Empty) => continue,
                Err(TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// Waits for a batch and joins the batches that arrive within [`WRITE_LINGER`] of it, up to
    /// [`MAX_DOCUMENTS_PER_WRITE`]; `None` once the receive threads are gone and the queue is
    /// empty. The other workers wait meanwhile: they would only find the queue empty.
    fn take(&self) -> Option<Vec<Bytes>> {
        let queue = self.queue.lock();
        let mut datagrams = queue.recv().ok()?;
        let deadline = Instant::now() + WRITE_LINGER;
        while datagrams.len() < MAX_DOCUMENTS_PER_WRITE {
            match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(more) => datagrams.extend(more),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        Some(datagrams)
    }

    fn write(&self, datagrams: &[Bytes]) {
        let (documents, bad_headers) = document_bodies(datagrams);
        if bad_headers > 0 {
            let counters = self.handoff.counters();
            counters.add_received(Source::Udp, bad_headers);
            counters.add_rejected(Source::Udp, RejectReason::BadHeader, bad_headers);
        }
        if !documents.is_empty() {
            self.handoff.hand_off(documents);
        }
    }
}

/// The documents of `datagrams` and how many datagrams had a bad header.
///
/// Each document is a slice of its datagram's buffer: parsing needs no copy, the store keeps
/// the slice, and the relay copies out only what it keeps. A kept slice holds its whole receive
/// buffer, which the store counts as the document plus an SDK's header line; a rejected
/// datagram or a longer header in the same buffer would be held uncounted, so then every
/// document is copied out on its own.
pub(super) fn document_bodies(datagrams: &[Bytes]) -> (Vec<Bytes>, u64) {
    let mut documents = Vec::with_capacity(datagrams.len());
    let mut bad_headers = 0;
    let mut other_headers = false;
    for datagram in datagrams {
        match document_body(datagram) {
            Some(body) => {
                other_headers |= datagram.len() - body.len() != CANONICAL_HEADER.len() + 1;
                documents.push(datagram.slice_ref(body));
            }
            None => bad_headers += 1,
        }
    }
    if bad_headers > 0 || other_headers {
        documents = documents.iter().map(|document| Bytes::copy_from_slice(document)).collect();
    }
    (documents, bad_headers)
}

/// The document after a valid header line, or `None` when the header is missing or invalid or
/// the document is empty (the daemon's "Invalid header" and "Missing header or segment").
pub(super) fn document_body(datagram: &[u8]) -> Option<&[u8]> {
    let newline = datagram.iter().position(|&byte| byte == b'\n')?;
    let (header, body) = (&datagram[..newline], &datagram[newline + 1..]);
    if body.is_empty() || !(header == CANONICAL_HEADER || header_is_valid(header)) {
        return None;
    }
    Some(body)
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    version: u64,
}

fn header_is_valid(header: &[u8]) -> bool {
    serde_json::from_slice::<Header<'_>>(header)
        .is_ok_and(|header| header.format.eq_ignore_ascii_case("json") && header.version == 1)
}
