//! How the server's memory goes back to the system. glibc's allocator raises its mmap threshold
//! each time a large block is freed (up to 32 MiB), after which buffers of that size come from
//! each thread's arena and stay there once freed: under overload (frames of a flush, request
//! batches, refused writes) that kept ~130 MiB more resident than the data held
//! (`cli/tests/fluoro_serve_holds_its_memory_under_overload.rs`). A fixed threshold gives every
//! allocation of 256 KiB or more its own mapping, returned whole when freed.
//!
//! glibc also gives threads up to eight arenas per core, each keeping its own free memory: with
//! the blocking pool's many threads under overload that was another ~130 MiB (530 → 398 MiB
//! peak). No more threads than cores run at once, so one arena per core is enough.

/// Allocations at least this large are mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 256 * 1024;

/// Fixes glibc's mmap threshold and its number of arenas (one per core), unless the environment
/// already tunes the allocator (`GLIBC_TUNABLES`, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_ARENA_MAX`):
/// the operator's choice wins.
#[allow(unsafe_code)]
pub(crate) fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let variables = ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX"];
        let tuned = variables.iter().any(|name| std::env::var_os(name).is_some());
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX).max(2);
        if !tuned {
            // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
        }
    }
}
