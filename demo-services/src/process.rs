//! The process's own CPU time and resident memory, from `/proc/self` (Linux), for the
//! services' resource metrics and payforadoption's memory cap.

/// Clock ticks per second of `/proc/self/stat`; 100 on every Linux the demo targets.
const TICKS_PER_SECOND: f64 = 100.0;
/// Page size of `/proc/self/statm`'s counts.
const PAGE_BYTES: u64 = 4096;

/// User plus system CPU seconds so far.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// Resident set size in bytes.
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * PAGE_BYTES)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        assert!(super::resident_bytes().unwrap() > 1_000_000);
        assert!(super::cpu_seconds().unwrap() >= 0.0);
    }
}
