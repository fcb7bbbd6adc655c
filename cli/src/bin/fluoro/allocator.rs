//! How the server's memory goes back to the system (glibc). Under overload
//! (`cli/tests/fluoro_serve_holds_its_memory_under_overload.rs`) glibc kept far more resident
//! than the data held, for two reasons:
//! - it gives threads up to eight arenas per core, each keeping its own free memory; with the
//!   blocking pool's many threads that was ~130 MiB (530 → 398 MiB peak). No more threads than
//!   cores run at once, so one arena per core is enough (no measurable cost);
//! - once its dynamic mmap threshold has grown (each large block freed raises it, up to
//!   32 MiB), freed flush frames and request batches stay in the arenas. Fixing the threshold
//!   returned them but cost 14–25 % more CPU per ingested document at 1 MiB–256 KiB (every large
//!   buffer a fresh mapping); trimming the arenas every 500 ms returns them for about half that (+8 %, noisy)
//!   (`BENCHMARKS.md`, docs/operations.md "Memory under overload").

use std::time::Duration;

/// How often free memory at the top and inside of the arenas is handed back.
const TRIM_INTERVAL: Duration = Duration::from_millis(500);

/// One arena per core, unless the environment already tunes the allocator (`GLIBC_TUNABLES`,
/// `MALLOC_ARENA_MAX`): the operator's choice wins. Call before any thread starts.
#[allow(unsafe_code)]
pub(crate) fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tuned = ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX"].iter().any(|name| std::env::var_os(name).is_some());
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX).max(2);
        if !tuned {
            // SAFETY: mallopt only changes allocator parameters, before any other thread exists.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
        }
    }
}

/// A thread that hands freed memory back to the system every [`TRIM_INTERVAL`], for a server.
#[allow(unsafe_code)]
pub(crate) fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::thread::Builder::new().name("fluoro-trim".to_owned()).spawn(|| loop {
            std::thread::sleep(TRIM_INTERVAL);
            // SAFETY: malloc_trim only releases free pages; it takes each arena's lock itself.
            unsafe {
                libc::malloc_trim(0);
            }
        });
        if let Err(error) = started {
            tracing::warn!(%error, "cannot start the allocator trimming thread; freed memory is returned later");
        }
    }
}
