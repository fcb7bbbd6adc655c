//! The allocator of a server process: jemalloc ([`ServerAllocator`]), set as the global
//! allocator by `fluoro` and by the query benchmarks, so that they measure what the server
//! runs, and [`spawn_trimmer`] with the store's recent-data budget.
//!
//! Why jemalloc rather than glibc's malloc: ingest allocates a batch's strings and rows on the
//! UDP parse workers and frees them a generation later on the flush thread. glibc's bins
//! handled that pattern badly (`malloc_consolidate`, `unlink_chunk` and `_int_malloc` were a
//! fifth of the parse workers' samples), and took a hand-tuned set of `mallopt` settings and
//! a trimming thread to hold memory under overload. jemalloc's per-thread caches and size
//! classes cost ×0.85 of glibc's server CPU per UDP document at 20k/s (`BENCHMARKS.md`).
//!
//! Memory goes back to the system two ways:
//! - jemalloc's own decay (10 s by default), done by its background thread
//!   ([`MALLOC_CONF`]) rather than by whichever thread frees;
//! - under overload, sooner: while the process's resident anonymous memory is above its
//!   recent-data budget, the trimmer purges every arena every 500 ms. A shorter decay
//!   everywhere would do that too, but costs ingest CPU at every load (pages purged between
//!   flushes are faulted in again: 1 s cost +10 %), and the overload test
//!   (`cli/tests/fluoro_serve_holds_its_memory_under_overload.rs`) peaked at 470–484 MiB of its
//!   493 MiB bound with the 10 s decay alone.
//!
//! The threads that ingest (UDP receive and parse, the store's flush and write-ahead logs)
//! allocate from one arena of their own ([`use_ingest_arena`], through `UdpConfig` and
//! `StoreConfig`'s `thread_start`). Each in an automatic arena of its own, they faulted in
//! fresh pages for ~0.9 of every 1 KB document under UDP load (~7 % of the server's CPU)
//! while the memory a flush freed waited in the other threads' arenas; one arena for all
//! threads did better at ingest but slowed the map call, whose polars threads then share it
//! (`BENCHMARKS.md`, "page faults under UDP load").
//!
//! An operator's `_RJEM_MALLOC_CONF` in the environment is read after [`MALLOC_CONF`] and wins
//! where they differ (docs/operations.md).

use std::time::Duration;

/// The global allocator of `fluoro` and of the query benchmarks.
pub type ServerAllocator = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts (the prefixed build's `malloc_conf` symbol):
/// - decay on jemalloc's background thread instead of on the threads that allocate;
/// - only allocations over 32 MiB in the arena that hands pages back as soon as they are freed
///   (8 MiB by default): a query's columns and per-row vectors of 1M rows are 8–40 MiB, and
///   faulting them in afresh for every query made the dashboard's calls 5–10 % slower than on
///   glibc's malloc, whose mmap threshold the server had also set to 32 MiB.
#[allow(unsafe_code)]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 51] = b"background_thread:true,oversize_threshold:33554432\0";

/// The arena of the threads that ingest (UDP receive and parse, the flush, the write-ahead
/// log), created on first use; `None` if jemalloc refused.
static INGEST_ARENA: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();

/// Makes the calling thread allocate from the ingest threads' one arena: memory a flush frees
/// is then reused by the threads that allocate next instead of waiting in other arenas while
/// they fault in fresh pages (`BENCHMARKS.md`, "page faults under UDP load").
#[allow(unsafe_code)]
pub fn use_ingest_arena() {
    let Some(arena) = *INGEST_ARENA.get_or_init(create_arena) else { return };
    let mut index = arena;
    // SAFETY: "thread.arena" takes an unsigned arena index; `new` points at one of its size.
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.arena".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&raw mut index).cast(),
            std::mem::size_of::<u32>(),
        )
    };
    if code != 0 {
        tracing::debug!(code, "jemalloc did not move this thread to the ingest arena");
    }
}

fn create_arena() -> Option<u32> {
    // Reading "arenas.create" creates an arena and gives its index.
    read_mallctl(c"arenas.create").ok()
}

/// Reads jemalloc's `name` (`T` is its type: `bool`, `u32`, `usize`); `Err` holds jemalloc's
/// error code.
#[allow(unsafe_code)]
fn read_mallctl<T: Copy + Default>(name: &std::ffi::CStr) -> Result<T, i32> {
    let mut value = T::default();
    let mut length = std::mem::size_of::<T>();
    // SAFETY: `name` is NUL-terminated and `value`/`length` are a `T` and its size, which
    // jemalloc checks against the value's own size before it writes; it reads nothing.
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(name.as_ptr(), (&raw mut value).cast(), &raw mut length, std::ptr::null_mut(), 0)
    };
    if code == 0 {
        Ok(value)
    } else {
        Err(code)
    }
}

/// How often the arenas are purged while the process holds more than its trimming level.
const TRIM_INTERVAL: Duration = Duration::from_millis(500);

/// jemalloc's `MALLCTL_ARENAS_ALL`: an arena index that means every arena.
const ALL_ARENAS: u32 = 4096;

/// A thread that hands freed memory back to the system, for a server: every [`TRIM_INTERVAL`]
/// while the process's resident anonymous memory is above `level_bytes` (the store's
/// recent-data budget: the scale of memory the operator planned for). Below it, jemalloc's
/// decay does it.
pub fn spawn_trimmer(level_bytes: u64) {
    let started = std::thread::Builder::new().name("fluoro-trim".to_owned()).spawn(move || loop {
        std::thread::sleep(TRIM_INTERVAL);
        if resident_anonymous_bytes().is_none_or(|bytes| bytes > level_bytes) {
            if let Err(code) = purge_all_arenas() {
                tracing::warn!(code, "jemalloc refused to purge its arenas; the trimming thread stops");
                return;
            }
        }
    });
    if let Err(error) = started {
        tracing::warn!(%error, "cannot start the allocator trimming thread; freed memory is returned later");
    }
}

/// Returns every arena's unused dirty pages to the system (`arena.<MALLCTL_ARENAS_ALL>.purge`);
/// `Err` holds jemalloc's error code.
#[allow(unsafe_code)]
fn purge_all_arenas() -> Result<(), i32> {
    let name = format!("arena.{ALL_ARENAS}.purge\0");
    // SAFETY: `name` is NUL-terminated; purge reads and writes nothing, so every pointer is
    // null and the length zero, as jemalloc requires of this command.
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(code)
    }
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

    /// Reads an option jemalloc started with, or another of its values.
    fn jemalloc_option<T: Copy + Default>(name: &std::ffi::CStr) -> T {
        read_mallctl(name).unwrap_or_else(|code| panic!("jemalloc does not know {name:?}: {code}"))
    }

    #[test]
    fn ingest_threads_share_one_arena_of_their_own() {
        let in_thread = |ingest: bool| {
            std::thread::spawn(move || {
                if ingest {
                    use_ingest_arena();
                }
                jemalloc_option::<u32>(c"thread.arena")
            })
            .join()
            .expect("the thread ran")
        };
        let (first, second, other) = (in_thread(true), in_thread(true), in_thread(false));
        assert_eq!(first, second, "every ingest thread allocates from the same arena");
        assert_ne!(first, other, "a thread that did not ask stays in jemalloc's own arenas");
        assert!(first >= jemalloc_option::<u32>(c"opt.narenas"), "a created arena, after the automatic ones");
    }

    #[test]
    #[allow(unsafe_code)]
    fn jemalloc_starts_with_these_settings_and_purges_on_request() {
        use std::alloc::{GlobalAlloc, Layout};
        // jemalloc is linked here without being this test binary's global allocator: the
        // settings it reads must still be `MALLOC_CONF`, as in the binaries that use it.
        let layout = Layout::from_size_align(1 << 20, 8).expect("a valid layout");
        // SAFETY: the layout's size is not zero, and the block is freed with that layout.
        unsafe {
            let block = ServerAllocator::default().alloc(layout);
            assert!(!block.is_null());
            ServerAllocator::default().dealloc(block, layout);
        }
        assert!(jemalloc_option::<bool>(c"opt.background_thread"), "MALLOC_CONF was read");
        assert_eq!(jemalloc_option::<usize>(c"opt.oversize_threshold"), 32 << 20);
        assert_eq!(purge_all_arenas(), Ok(()));
    }
}
