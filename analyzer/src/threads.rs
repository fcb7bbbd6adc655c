//! Work split over the machine's cores with scoped threads: a query's passes over a window's
//! rows each take tens of milliseconds, and after the scan the second core is idle.

use std::thread::ScopedJoinHandle;

/// What a scoped thread returned; its panic goes on in this thread.
pub(crate) fn joined<T>(thread: ScopedJoinHandle<'_, T>) -> T {
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
