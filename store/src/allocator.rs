//! How a server's memory goes back to the system (glibc): [`tune`] before any thread starts,
//! then [`spawn_trimmer`] with the store's recent-data budget. `fluoro serve` does both, and
//! so do the query benchmarks, so that they measure the allocator the server runs with (with
//! glibc's defaults a trace lookup's p99 was twice the tuned one). Under overload
//! (`cli/tests/fluoro_serve_holds_its_memory_under_overload.rs`) glibc kept far more resident
//! than the data held, for three reasons:
//! - it gives threads up to eight arenas per core, each keeping its own free memory; with the
//!   blocking pool's many threads that was ~130 MiB (530 → 398 MiB peak). No more threads than
//!   cores run at once, so one arena per core is enough (no measurable cost);
//! - once its dynamic mmap threshold has grown (each large block freed raises it, up to
//!   32 MiB), freed flush frames and request batches stay in the arenas. Fixing the threshold
//!   returned them but cost 14–25 % more CPU per ingested document at 1 MiB–256 KiB (every large
//!   buffer a fresh mapping); trimming the arenas every 500 ms returns them for about half that (+8 %, noisy)
//!   (`BENCHMARKS.md`, docs/operations.md "Memory under overload"). Each trim makes the
//!   pages freed since come back as fresh ones the kernel zeroes (`clear_page_erms`, a fifth of
//!   the UDP parse workers' time), so the trimmer hands memory back every 500 ms only while the
//!   process holds more than its recent-data budget, and every 30 s below it;
//! - glibc's `free` hands the top of an arena back as soon as more than its trim threshold
//!   (128 KiB, or twice the grown mmap threshold) is free there, so every large buffer freed
//!   and allocated again (gRPC messages, write-ahead log records, flush columns) came back as
//!   fresh pages the kernel had to zero: `clear_page_erms` was 25 % of the server's samples
//!   under OTLP load. A 16 MiB trim threshold keeps that much at each arena's top between
//!   the trimmer's passes (2 %); the mmap threshold is fixed at the 32 MiB the dynamic one
//!   grows to, because setting either stops glibc adjusting both (`BENCHMARKS.md`, "OTLP ingest").

use std::time::Duration;

/// How often free memory at the top and inside of the arenas is handed back while the process
/// holds more than its trimming level…
const TRIM_INTERVAL: Duration = Duration::from_millis(500);
/// …and how often below it, so that an idle server still returns what a burst left.
const IDLE_TRIM_INTERVAL: Duration = Duration::from_secs(30);
/// Free memory an arena's top may hold before `free` hands it back itself.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD_BYTES: libc::c_int = 16 << 20;
/// Allocations from this size get a mapping of their own: the dynamic threshold's ceiling.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 32 << 20;

/// One arena per core, and large freed buffers kept for reuse (the module doc says why),
/// unless the environment already tunes that part of the allocator (`GLIBC_TUNABLES`,
/// `MALLOC_ARENA_MAX`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`): the operator's
/// choice wins. Call before any thread starts: a process-wide setting, for binaries.
#[allow(unsafe_code)]
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tuned = |names: &[&str]| names.iter().any(|name| std::env::var_os(name).is_some());
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX).max(2);
        if !tuned(&["GLIBC_TUNABLES", "MALLOC_ARENA_MAX"]) {
            // SAFETY: mallopt only changes allocator parameters, before any other thread exists.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
        }
        if !tuned(&["GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"]) {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
            }
        }
    }
}

/// A thread that hands freed memory back to the system, for a server: every [`TRIM_INTERVAL`]
/// while the process's resident anonymous memory is above `level_bytes` (the store's
/// recent-data budget: the scale of memory the operator planned for), every
/// [`IDLE_TRIM_INTERVAL`] below it.
#[allow(unsafe_code)]
pub fn spawn_trimmer(level_bytes: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::thread::Builder::new().name("fluoro-trim".to_owned()).spawn(move || {
            let mut last_trim = std::time::Instant::now();
            loop {
                std::thread::sleep(TRIM_INTERVAL);
                let above = resident_anonymous_bytes().is_none_or(|bytes| bytes > level_bytes);
                if above || last_trim.elapsed() >= IDLE_TRIM_INTERVAL {
                    // SAFETY: malloc_trim only releases free pages; it takes each arena's lock itself.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                    last_trim = std::time::Instant::now();
                }
            }
        });
        if let Err(error) = started {
            tracing::warn!(%error, "cannot start the allocator trimming thread; freed memory is returned later");
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = level_bytes;
}

/// This process's resident anonymous memory (heap, stacks: `RssAnon`), if the kernel says.
fn resident_anonymous_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_resident_anonymous(&status)
}

fn parse_resident_anonymous(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_anonymous_memory_is_read_from_the_status_file() {
        let status = "Name:\tfluoro\nVmRSS:\t  52000 kB\nRssAnon:\t   41000 kB\nRssFile:\t 11000 kB\n";
        assert_eq!(parse_resident_anonymous(status), Some(41000 * 1024));
        assert_eq!(parse_resident_anonymous("Name:\tfluoro\n"), None);
        assert!(resident_anonymous_bytes().is_some_and(|bytes| bytes > 0), "this test's own memory");
    }
}
