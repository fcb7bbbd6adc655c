//! The kernel's count of datagrams a socket dropped because its buffer was full.
//!
//! The count is one cumulative `u32` per socket (`sk_drops`), read two ways:
//! - `SO_RXQ_OVFL`: the kernel attaches the count, as of the moment the datagram was queued, to
//!   every datagram read. Free, but late by the time a datagram waits in the buffer, and blind
//!   to drops after the last datagram read.
//! - `/proc/net/udp` (and `udp6`), the `drops` column of the socket's line, found by its inode:
//!   current, but a file read, so only while the receive thread waits anyway (idle, queue full)
//!   and at shutdown.
//!
//! Both readings go through [`SocketDrops`], which counts each drop once whichever reading sees
//! it first.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use socket2::Socket;

/// Turns readings of a socket's cumulative drop count into increments.
#[derive(Debug, Default)]
pub(super) struct SocketDrops {
    counted: u32,
}

impl SocketDrops {
    /// Drops not counted before. A reading older than one already counted (a datagram queued
    /// before a `/proc` reading) adds nothing; the counter wraps, hence the wrapping difference
    /// read as signed.
    pub(super) fn newly_counted(&mut self, cumulative: Option<u32>) -> u64 {
        let Some(cumulative) = cumulative else { return 0 };
        let ahead = cumulative.wrapping_sub(self.counted) as i32;
        if ahead <= 0 {
            return 0;
        }
        self.counted = cumulative;
        ahead as u64
    }
}

/// The socket's drop count from `/proc/net/udp*`; `None` when it cannot be read (no procfs).
pub(super) fn proc_socket_drops(socket: &Socket) -> Option<u32> {
    let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?.ino();
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| drops_of_inode(&table, inode))
}

/// The `drops` column (the last) of the line whose `inode` column (the 10th) is `inode`.
fn drops_of_inode(table: &str, inode: u64) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        fields.last()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_drop_is_counted_once_whichever_reading_sees_it() {
        let mut drops = SocketDrops::default();
        assert_eq!(drops.newly_counted(None), 0);
        assert_eq!(drops.newly_counted(Some(5)), 5);
        assert_eq!(drops.newly_counted(Some(5)), 0);
        assert_eq!(drops.newly_counted(Some(9)), 4, "a /proc reading");
        assert_eq!(drops.newly_counted(Some(7)), 0, "a datagram queued before it");
        drops.counted = u32::MAX - 1;
        assert_eq!(drops.newly_counted(Some(3)), 5, "across the wrap");
    }

    #[test]
    fn the_drops_column_is_found_by_inode() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 1: 0100007F:07D0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
            \x20 2: 0100007F:9C40 00000000:0000 07 00000000:0003F480 00:00000000 00000000     0        0 4711 2 0000000000000000 1234\n";
        assert_eq!(drops_of_inode(table, 4711), Some(1234));
        assert_eq!(drops_of_inode(table, 4242), Some(0));
        assert_eq!(drops_of_inode(table, 1), None);
    }

    #[test]
    fn a_bound_socket_is_found_in_proc() {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        assert_eq!(proc_socket_drops(&socket), Some(0));
    }
}
