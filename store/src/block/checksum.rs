//! A block's checksum: the CRC-32 of the whole file, kept in its own footer.
//!
//! Parquet pages carry no checksum that polars writes or checks, and polars' reader trusts what
//! it reads: a flipped byte in a page's levels or in the footer's numbers made it panic, or
//! abort the process on an allocation of 2^61 bytes (`store/tests/corrupted_files_never_panic.rs`,
//! about one run in 60 of its default cases). So Fluoro's footer metadata (`fluoro.block`)
//! holds `"checksum":"crc32:<8 hex digits>"`: the CRC-32 (IEEE) of every byte of the file, with
//! those 8 digits counted as `0`s, written over the placeholder once the file is complete
//! ([`seal`]). A block is checked once per process, before polars first reads its pages
//! ([`Intact`]); one that fails is refused with an error naming it, and the rest is served.
//! Blocks written before the checksum existed have none and are read unchecked.
//!
//! Checking reads the whole file once, at first use rather than at open: ~35 ms per million
//! spans (a ~47 MB block) from the page cache.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::error::{Result, StoreError};

/// What the footer says before the file is sealed.
pub(super) const UNSEALED: &str = "crc32:00000000";
const MARK: &[u8] = b"\"checksum\":\"crc32:";
const DIGITS: usize = 8;
/// Bytes at the end of a Parquet file after its footer: the footer's length and `PAR1`.
const TRAILER_BYTES: u64 = 8;
const READ_BYTES: usize = 1 << 20;

/// Every byte written through it goes into a CRC-32 as well.
pub(super) struct Summed<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: std::io::Write> Summed<W> {
    pub(super) fn new(inner: W) -> Self {
        Summed { inner, hasher: crc32fast::Hasher::new() }
    }

    pub(super) fn crc(&self) -> u32 {
        self.hasher.clone().finalize()
    }
}

impl<W: std::io::Write> std::io::Write for Summed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `crc` (of the whole file as written, the placeholder's digits `0`s) over the
/// placeholder in the footer of the complete file `file`.
pub(super) fn seal(file: &File, path: &Path, crc: u32) -> Result<()> {
    let io = |error| StoreError::io(path, error);
    let at = digits_offset(file, path)?
        .ok_or_else(|| StoreError::Block(format!("{}: no checksum placeholder in the footer", path.display())))?;
    file.write_all_at(format!("{crc:08x}").as_bytes(), at).map_err(io)
}

/// Where the checksum's digits lie in the file, and `None` if the footer has no checksum.
fn digits_offset(file: &File, path: &Path) -> Result<Option<u64>> {
    let io = |error| StoreError::io(path, error);
    let len = file.metadata().map_err(io)?.len();
    let damaged = |what: &str| StoreError::Block(format!("{}: damaged: {what}", path.display()));
    let mut trailer = [0u8; TRAILER_BYTES as usize];
    let trailer_at = len.checked_sub(TRAILER_BYTES).ok_or_else(|| damaged("shorter than a Parquet trailer"))?;
    file.read_exact_at(&mut trailer, trailer_at).map_err(io)?;
    let footer_len = u64::from(u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]));
    let footer_at = trailer_at.checked_sub(footer_len).ok_or_else(|| damaged("a footer longer than the file"))?;
    let mut footer = vec![0u8; footer_len as usize];
    file.read_exact_at(&mut footer, footer_at).map_err(io)?;
    // The last mark: Fluoro's metadata comes after the row groups' statistics, which hold
    // text from the spans.
    let found = footer.windows(MARK.len()).rposition(|window| window == MARK);
    Ok(found.map(|mark| footer_at + (mark + MARK.len()) as u64))
}

/// Whether a block's file is as it was written: checked at most once per process, shared by
/// every copy of the block's metadata.
#[derive(Debug, Clone, Default)]
pub(crate) struct Intact(Arc<OnceLock<std::result::Result<(), String>>>);

impl Intact {
    /// Known intact without a check: the block was just written by this process.
    pub(super) fn written() -> Self {
        Intact(Arc::new(OnceLock::from(Ok(()))))
    }

    /// `Ok` if the file at `path` matches its checksum `expected` (or has none); the first
    /// call reads the file, later ones repeat its answer.
    pub(super) fn check(&self, path: &Path, expected: Option<u32>) -> Result<()> {
        let Some(expected) = expected else { return Ok(()) };
        let outcome = self.0.get_or_init(|| verify(path, expected).map_err(|error| error.to_string()));
        outcome.clone().map_err(StoreError::Block)
    }
}

fn verify(path: &Path, expected: u32) -> Result<()> {
    let io = |error| StoreError::io(path, error);
    let mut file = File::open(path).map_err(io)?;
    let damaged = || StoreError::Block(format!("{}: damaged: its bytes do not match its checksum", path.display()));
    let digits = digits_offset(&file, path)?.ok_or_else(damaged)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; READ_BYTES];
    let mut at = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        let chunk = &mut buffer[..read];
        blank_digits(chunk, at, digits);
        hasher.update(chunk);
        at += read as u64;
    }
    if hasher.finalize() == expected {
        Ok(())
    } else {
        Err(damaged())
    }
}

/// The checksum's digits within `chunk` (which starts at file offset `at`), as `0`s.
fn blank_digits(chunk: &mut [u8], at: u64, digits: u64) {
    let end = at + chunk.len() as u64;
    for offset in digits.max(at)..(digits + DIGITS as u64).min(end) {
        chunk[(offset - at) as usize] = b'0';
    }
}

/// The checksum a footer states (`crc32:<8 hex digits>`).
pub(super) fn parse(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("crc32:").filter(|digits| digits.len() == DIGITS)?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_are_blanked_wherever_a_chunk_cuts_them() {
        let file = b"abc\"checksum\":\"crc32:1234abcdxyz".to_vec();
        let digits = (file.len() - 11) as u64;
        let whole = {
            let mut copy = file.clone();
            blank_digits(&mut copy, 0, digits);
            copy
        };
        assert!(whole.ends_with(b"crc32:00000000xyz"));
        for cut in 1..file.len() {
            let (mut first, mut second) = (file[..cut].to_vec(), file[cut..].to_vec());
            blank_digits(&mut first, 0, digits);
            blank_digits(&mut second, cut as u64, digits);
            assert_eq!([first, second].concat(), whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_stated_checksum_is_eight_hex_digits() {
        assert_eq!(parse("crc32:0000002a"), Some(42));
        assert_eq!(parse(UNSEALED), Some(0));
        assert_eq!(parse("crc32:2a"), None);
        assert_eq!(parse("md5:0000002a"), None);
    }
}
